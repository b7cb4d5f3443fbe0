package mailtest

import (
	"encoding/base64"
	"io"
	"strings"
)

// newBase64 decodes a base64 body broken into lines.
func newBase64(r io.Reader) io.Reader {
	data, err := io.ReadAll(r)
	if err != nil {
		return strings.NewReader("")
	}
	clean := strings.NewReplacer("\r", "", "\n", "").Replace(string(data))
	return base64.NewDecoder(base64.StdEncoding, strings.NewReader(clean))
}
