package llm

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
)

func TestTmpKeyStable(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"choices":[{"message":{"role":"assistant","content":"{\"title\":\"A\",\"summary\":\"B\"}"}}],"usage":{}}`)
	}))
	defer srv.Close()
	l := NewLLM(Config{LLMURL: srv.URL + "/v1", JSONSchema: true}, nil, nil, nil)
	b1, _ := json.Marshal(schemaTopic.schema)
	_, _, _ = l.Topic(context.Background(), "Ana: hi", nil)
	b2, _ := json.Marshal(schemaTopic.schema)
	fmt.Printf("%s\n%s\n", b1, b2)
}
