package runtime

// The subPath resolver and its bind, exposed to the external tests.
var (
	OpenSubPath   = openSubPath
	PinSubPath    = pinSubPath
	UnpinSubPaths = unpinSubPaths
)

// SubPathDirMode is the mode asked for the directories a subPath creates.
const SubPathDirMode = subPathDirMode
