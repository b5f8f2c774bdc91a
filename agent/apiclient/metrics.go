package apiclient

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"shoal/agent/api"
	"shoal/cluster"
	"shoal/metrics"
)

// NodeReport is one agent's own metrics (its node and its pods) over the
// last span (0: the last sampling interval). Only node certificates may
// ask: agents gathering the cluster's metrics, the autoscaler.
func (c *Client) NodeReport(ctx context.Context, span time.Duration) (metrics.Report, error) {
	var out metrics.Report
	q := url.Values{}
	if span > 0 {
		q.Set("span", span.String())
	}
	err := c.do(ctx, http.MethodGet, "/internal/metrics", q, nil, &out)
	return out, err
}

// MetricsFetch is how an agent gathers the cluster's metrics (for `top`,
// and for an autoscaler on the leader): self's report from local (its
// own recorder), every other node's from its agent's internal route over
// hc, which carries this node's certificate, each within timeout. Use it
// with metrics.Gather.
func MetricsFetch(st *cluster.State, self string, local func(span time.Duration) metrics.Report, hc *http.Client, span, timeout time.Duration) metrics.Fetch {
	return func(ctx context.Context, name string) (metrics.Report, error) {
		if name == self {
			if local == nil {
				return metrics.Report{}, errors.New("this agent samples no metrics")
			}
			return local(span), nil
		}
		n, ok := st.Node(name)
		if !ok || n.APIAddr == "" {
			return metrics.Report{}, errors.New("its API address is not known")
		}
		ctx, cancel := context.WithTimeout(ctx, timeout)
		defer cancel()
		return (&Client{Addr: n.APIAddr, HTTP: hc}).NodeReport(ctx, span)
	}
}

// NodeMetrics is every node's usage (name ""), or one node's, with the
// warnings of the nodes that did not answer.
func (c *Client) NodeMetrics(ctx context.Context, name string) (*api.NodeMetricsList, []string, error) {
	if name != "" {
		var one api.NodeMetrics
		w, err := c.getWarned(ctx, "/metrics/nodes/"+url.PathEscape(name), nil, &one)
		if err != nil {
			return nil, w, err
		}
		return &api.NodeMetricsList{Kind: api.KindNodeMetricsList, APIVersion: api.MetricsAPIVersion, Items: []api.NodeMetrics{one}}, w, nil
	}
	var out api.NodeMetricsList
	w, err := c.getWarned(ctx, "/metrics/nodes", nil, &out)
	return &out, w, err
}

// PodMetrics is the usage of the pods of namespace ("" for all), or of
// one pod, with the warnings of the nodes that did not answer.
func (c *Client) PodMetrics(ctx context.Context, namespace, name string) (*api.PodMetricsList, []string, error) {
	if name != "" {
		var one api.PodMetrics
		w, err := c.getWarned(ctx, "/metrics/namespaces/"+url.PathEscape(namespace)+"/pods/"+url.PathEscape(name), nil, &one)
		if err != nil {
			return nil, w, err
		}
		return &api.PodMetricsList{Kind: api.KindPodMetricsList, APIVersion: api.MetricsAPIVersion, Items: []api.PodMetrics{one}}, w, nil
	}
	q := url.Values{}
	if namespace != "" {
		q.Set("namespace", namespace)
	}
	var out api.PodMetricsList
	w, err := c.getWarned(ctx, "/metrics/pods", q, &out)
	return &out, w, err
}

// getWarned is a GET whose answer may carry Warning headers (RFC 7234
// form, `299 - "text"`, as Kubernetes' API sends them).
func (c *Client) getWarned(ctx context.Context, path string, q url.Values, out any) ([]string, error) {
	resp, err := c.send(ctx, http.MethodGet, path, q, nil)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var warnings []string
	for _, h := range resp.Header.Values("Warning") {
		warnings = append(warnings, ParseWarning(h))
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return warnings, fmt.Errorf("GET %s: decode answer: %w", path, err)
	}
	return warnings, nil
}

// ParseWarning returns the text of a Warning header (`299 - "text"`), or
// the header as it is when it has another form.
func ParseWarning(h string) string {
	code, rest, ok := strings.Cut(h, " ")
	if !ok || len(code) != 3 {
		return h
	}
	_, text, ok := strings.Cut(rest, " ")
	if !ok {
		return h
	}
	if s, err := strconv.Unquote(text); err == nil {
		return s
	}
	return h
}
