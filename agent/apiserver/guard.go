package apiserver

import (
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"time"

	"shoal/agent/api"
)

// requestError is a request refused before routing, with its status.
type requestError struct {
	code int
	msg  string
}

func (e *requestError) Error() string { return e.msg }

// writeTypes are the content types a write may carry. A browser page can
// send a cross-site POST without a preflight only as a form or plain
// text, so requiring one of these stops cross-site request forgery even
// where a credential would be attached.
var writeTypes = map[string]bool{
	"application/json":   true,
	"application/yaml":   true,
	"application/x-yaml": true,
	"application/x-tar":  true, // image archives
}

// checkRequest refuses requests that only a browser, or an attack, sends.
// node is this agent's name, one of the Host names it answers to.
func checkRequest(r *http.Request, node string) *requestError {
	// Shoal's clients never send Origin; browsers send it on every
	// cross-origin request and on same-origin writes.
	if o := r.Header.Get("Origin"); o != "" {
		return &requestError{http.StatusForbidden, "requests from web pages (Origin " + o + ") are refused: use the shoal CLI or an API client"}
	}
	// DNS rebinding points a name the attacker owns at an agent; the
	// browser then sends that name as Host. Agents are addressed by IP,
	// localhost or their node name, the names in their certificates.
	host := r.Host
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	if net.ParseIP(host) == nil && host != "localhost" && host != node {
		return &requestError{http.StatusForbidden, "Host " + r.Host + " is not this agent's: address it by IP, localhost or its node name"}
	}
	if !api.IsWrite(r.Method) {
		return nil
	}
	if r.ContentLength == 0 {
		// A write without a body (delete, undo) carries no type. Chunked
		// or HTTP/2 bodies of unknown length have ContentLength -1.
		return nil
	}
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || !writeTypes[mt] {
		return &requestError{http.StatusUnsupportedMediaType, "writes must be application/json, application/yaml or application/x-tar, not " + quoteOrNone(r.Header.Get("Content-Type"))}
	}
	return nil
}

// checkDeadline refuses a write that arrives after its deadline
// (api.DeadlineHeader): whoever sent it has stopped waiting, so it must
// change nothing. This is what keeps a request that sat on a connection
// across a partition from being applied once the partition heals.
func checkDeadline(r *http.Request, node string, now time.Time) *requestError {
	v := r.Header.Get(api.DeadlineHeader)
	if v == "" || !api.IsWrite(r.Method) {
		return nil
	}
	d, err := time.Parse(time.RFC3339Nano, v)
	if err != nil {
		return &requestError{http.StatusBadRequest, fmt.Sprintf("header %s: %q is not an RFC 3339 time", api.DeadlineHeader, v)}
	}
	if late := now.Sub(d); late > 0 {
		return &requestError{http.StatusRequestTimeout, fmt.Sprintf("this write reached agent %s %v after its deadline (%s): it was not applied; send it again",
			node, late.Round(time.Millisecond), api.DeadlineHeader)}
	}
	return nil
}

func quoteOrNone(s string) string {
	if s == "" {
		return "none"
	}
	return `"` + s + `"`
}

// bodyTimeout is how long a client may take to send a request body.
const bodyTimeout = time.Minute

// limitBodyTime gives the client bodyTimeout to send the body, and lifts
// the deadline once the body is read: a deadline left on the connection
// would cancel the request's context while the handler still runs (an
// exec, a followed log), which http.Server's ReadTimeout does.
func limitBodyTime(w http.ResponseWriter, r *http.Request) {
	if r.Body == nil || r.Body == http.NoBody {
		return
	}
	rc := http.NewResponseController(w)
	if rc.SetReadDeadline(time.Now().Add(bodyTimeout)) != nil {
		return // not a server connection (a test recorder)
	}
	r.Body = &deadlineBody{ReadCloser: r.Body, rc: rc}
}

type deadlineBody struct {
	io.ReadCloser
	rc   *http.ResponseController
	done bool
}

func (b *deadlineBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err != nil && !b.done {
		b.done = true
		_ = b.rc.SetReadDeadline(time.Time{})
	}
	return n, err
}
