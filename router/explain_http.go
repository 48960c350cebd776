package router

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/payroute/payroute/schemas"
)

// MaxEventBytes bounds an event read by DecodeEvent through the explain
// handler: far above any valid PaymentRequested (schemas' field limits).
const MaxEventBytes = 1 << 20

// DecodeEvent reads a PaymentRequested written as JSON with the field
// names of its Avro schema (payment_id, payment_method.network, ...) and
// validates it as the processor does. Unknown fields are errors: a
// misspelt field would otherwise be explained as absent. An event the
// processor would reject fails here with the schema's error (which never
// echoes card data).
func DecodeEvent(r io.Reader) (*schemas.PaymentRequested, error) {
	dec := json.NewDecoder(r)
	dec.DisallowUnknownFields()
	var req schemas.PaymentRequested
	if err := dec.Decode(&req); err != nil {
		return nil, fmt.Errorf("event: %w", err)
	}
	if dec.More() {
		return nil, errors.New("event: more than one JSON value")
	}
	if err := req.Validate(); err != nil {
		return nil, fmt.Errorf("event: the processor would reject it: %w", err)
	}
	return &req, nil
}

// ExplainHandler serves explanations of the holder's routing as JSON, for
// the admin HTTP port (mounted at /api/explain):
//
//	POST /api/explain            body: a PaymentRequested as JSON
//	GET  /api/explain?event=JSON the same, URL-encoded
//
// The answer is an Explanation. ?version=V explains with configuration
// version V while the holder retains it (404 otherwise), to see how a
// payment in flight was decided. A malformed or invalid event is a 400
// with {"error": "..."}; other methods are a 405.
func ExplainHandler(h *Holder) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		var body io.Reader
		switch req.Method {
		case http.MethodPost:
			body = http.MaxBytesReader(w, req.Body, MaxEventBytes)
		case http.MethodGet:
			ev := req.URL.Query().Get("event")
			if ev == "" {
				writeJSONError(w, http.StatusBadRequest, "GET needs ?event=<PaymentRequested as JSON>; or POST the event")
				return
			}
			body = strings.NewReader(ev)
		default:
			w.Header().Set("Allow", "GET, POST")
			writeJSONError(w, http.StatusMethodNotAllowed, "use GET or POST")
			return
		}
		r := h.Current()
		if v := req.URL.Query().Get("version"); v != "" {
			var ok bool
			if r, ok = h.Version(v); !ok {
				writeJSONError(w, http.StatusNotFound, fmt.Sprintf("configuration version %q is neither current (%s) nor retained", v, h.Current().Version()))
				return
			}
		}
		ev, err := DecodeEvent(body)
		if err != nil {
			writeJSONError(w, http.StatusBadRequest, err.Error())
			return
		}
		writeJSON(w, http.StatusOK, r.Explain(ev))
	})
}

func writeJSONError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]string{"error": msg})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}
