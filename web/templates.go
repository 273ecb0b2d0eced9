package web

import "embed"

// templates are the HTML pages, embedded in the binary: the board needs no
// network beyond parkd.
//
//go:embed templates/*.html
var templates embed.FS
