package llm

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"github.com/openai/openai-go/v3/shared"

	"github.com/parley-dev/parley"
)

// LLM runs the language-model steps against any OpenAI-compatible chat
// endpoint, with structured output, bounded re-asks and a cache. It is
// safe for concurrent use.
type LLM struct {
	cfg   Config
	cache Cache
	oa    openai.ChatCompletionService
	log   *slog.Logger
}

// NewLLM returns the chat client. cache may be nil (no caching), hc nil (a
// plain http.Client; each request is bounded by Config.LLMTimeout), log
// nil (slog.Default()). openai-go's own retries are off: the workflow
// step's policy retries.
func NewLLM(cfg Config, cache Cache, hc *http.Client, log *slog.Logger) *LLM {
	cfg = cfg.withDefaults()
	if hc == nil {
		hc = &http.Client{}
	}
	if log == nil {
		log = slog.Default()
	}
	// The service, not openai.NewClient, which also reads OPENAI_*
	// variables (see NewASR).
	oa := openai.NewChatCompletionService(option.WithBaseURL(cfg.LLMURL+"/"), option.WithAPIKey(cfg.LLMAPIKey),
		option.WithHTTPClient(hc), option.WithMaxRetries(0), option.WithMiddleware(captureFailures))
	return &LLM{cfg: cfg, cache: cache, oa: oa, log: log.With("component", "llm")}
}

// schema is a named JSON schema (the name is stable: the simulator and
// the logs use it).
type schema struct {
	name   string
	schema map[string]any
}

// call is one structured request.
type call struct {
	request     string // for messages: what is asked ("title"), without the pipeline's step names
	schema      schema
	system      string
	user        string
	temperature float64
}

// maxBadAnswer bounds how much of an invalid answer is sent back on re-ask.
const maxBadAnswer = 2000

// charsPerToken estimates tokens from characters.
const charsPerToken = 4

// structured asks for JSON matching c.schema, decodes it into out and
// validates it: the schema's required top-level fields, the types, then
// validate (may be nil). An invalid answer is re-asked with the errors, at
// most ParseMaxRetries times; then a parley.EINVALID error naming the request
// and what was wrong. A result is cached by endpoint, model, messages,
// parameters and schema.
func (l *LLM) structured(ctx context.Context, c call, out any, validate func() error) error {
	meter := parley.UsageFromContext(ctx)
	system := c.systemPrompt(!l.cfg.JSONSchema)
	if tokens := (len(system) + len(c.user)) / charsPerToken; tokens > l.cfg.ContextWindow {
		return parley.Errorf(parley.EINVALID, "%s request: the prompt (about %d tokens) does not fit the context window "+
			"(LLM_CONTEXT_WINDOW=%d)", c.request, tokens, l.cfg.ContextWindow)
	}
	key := cacheKey("llm", l.cfg.LLMURL, l.cfg.LLMModel, c.schema.name, c.schema.schema, system, c.user, c.temperature,
		l.cfg.JSONSchema)
	if l.cache != nil {
		if b, ok, err := l.cache.Get(ctx, key); err != nil {
			l.log.WarnContext(ctx, "cache read failed; calling the provider", "error", err)
		} else if ok && json.Unmarshal(b, out) == nil && (validate == nil || validate() == nil) {
			meter.Add(parley.Usage{CacheHits: 1})
			return nil
		}
	}
	msgs := []openai.ChatCompletionMessageParamUnion{openai.SystemMessage(system), openai.UserMessage(c.user)}
	var lastErr error
	for attempt := 0; attempt <= l.cfg.ParseMaxRetries; attempt++ {
		content, err := l.complete(ctx, c, msgs)
		if err != nil {
			return err
		}
		lastErr = decodeAnswer(content, c.schema, out, validate)
		if lastErr == nil {
			if l.cache != nil {
				if b, err := json.Marshal(out); err == nil {
					if err := l.cache.Put(ctx, key, "llm:"+c.schema.name, b); err != nil {
						l.log.WarnContext(ctx, "cache write failed", "error", err)
					}
				}
			}
			return nil
		}
		l.log.WarnContext(ctx, "answer invalid; asking again", "request", c.request, "schema", c.schema.name,
			"attempt", attempt+1, "error", lastErr)
		bad := content
		if len(bad) > maxBadAnswer {
			bad = bad[:maxBadAnswer] + "…"
		}
		msgs = append(msgs, openai.AssistantMessage(bad), openai.UserMessage(fmt.Sprintf(reaskFormat, lastErr, c.schema.name)))
	}
	return parley.Errorf(parley.EINVALID, "%s request: the model's answer was not valid %q JSON after %d attempts: %v",
		c.request, c.schema.name, l.cfg.ParseMaxRetries+1, lastErr)
}

// systemPrompt is the call's system prompt, with the schema spelled out
// when the endpoint cannot be given it as response_format.
func (c call) systemPrompt(withSchema bool) string {
	if !withSchema {
		return c.system
	}
	sb, _ := json.Marshal(c.schema.schema)
	return c.system + "\n\n" + schemaInstruction + string(sb)
}

// schemaInstruction precedes the schema in the system prompt when the
// endpoint has no structured outputs.
const schemaInstruction = "Answer with one JSON object only, no other text, matching this JSON schema:\n"

// reaskFormat is the follow-up after an invalid answer.
const reaskFormat = "That answer is not valid: %v. Answer again with a single JSON object that matches the %q schema, and nothing else."

// decodeAnswer parses an answer into out: the JSON object (also when
// fenced in markdown or surrounded by prose), field names matched to the
// schema's regardless of case and separators ("Title", "next steps"),
// required fields present, types right, then validate.
func decodeAnswer(content string, sc schema, out any, validate func() error) error {
	raw, err := jsonObject(content)
	if err != nil {
		return err
	}
	fields, required := schemaFields(sc.schema)
	norm := map[string]json.RawMessage{}
	for k, v := range raw {
		if canon, ok := fields[normKey(k)]; ok {
			k = canon
		}
		norm[k] = v
	}
	var missing []string
	for _, r := range required {
		if v, ok := norm[r]; !ok || (string(v) == "null" && fields[normKey(r)+"#array"] == "") {
			missing = append(missing, fmt.Sprintf("%q", r))
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("missing required field %s", strings.Join(missing, ", "))
	}
	b, _ := json.Marshal(norm)
	if err := json.Unmarshal(b, out); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			return fmt.Errorf("field %q must be %s, not %s", te.Field, jsonKind(te.Type.Kind().String()), te.Value)
		}
		return fmt.Errorf("not valid JSON (%w)", err)
	}
	if validate != nil {
		return validate()
	}
	return nil
}

func jsonKind(goKind string) string {
	switch goKind {
	case "slice", "array":
		return "an array"
	case "struct", "map":
		return "an object"
	case "string":
		return "a string"
	}
	return "a " + goKind
}

// jsonObject finds the JSON object in an answer.
func jsonObject(content string) (map[string]json.RawMessage, error) {
	s := strings.TrimSpace(content)
	var v map[string]json.RawMessage
	err := json.Unmarshal([]byte(s), &v)
	if err == nil && v != nil {
		return v, nil
	}
	if i, j := strings.IndexByte(s, '{'), strings.LastIndexByte(s, '}'); i >= 0 && j > i {
		if json.Unmarshal([]byte(s[i:j+1]), &v) == nil && v != nil {
			return v, nil
		}
	}
	if err == nil {
		return nil, errors.New("the answer is not a JSON object")
	}
	return nil, fmt.Errorf("not valid JSON (%w)", err)
}

// schemaFields maps normalised property names to the schema's (plus
// "name#array" markers for array properties, whose null reads as empty)
// and lists the required ones.
func schemaFields(sc map[string]any) (map[string]string, []string) {
	fields := map[string]string{}
	props, _ := sc["properties"].(map[string]any)
	for name, p := range props {
		fields[normKey(name)] = name
		if pm, ok := p.(map[string]any); ok && pm["type"] == "array" {
			fields[normKey(name)+"#array"] = name
		}
	}
	var required []string
	switch r := sc["required"].(type) {
	case []string:
		required = slices.Clone(r) // sorted below: never the schema's own slice (the cache key hashes it)
	case []any:
		for _, x := range r {
			if s, ok := x.(string); ok {
				required = append(required, s)
			}
		}
	}
	sort.Strings(required)
	return fields, required
}

func normKey(k string) string {
	return strings.NewReplacer("_", "", "-", "", " ", "").Replace(strings.ToLower(strings.TrimSpace(k)))
}

// complete sends one chat request and returns the answer's text.
func (l *LLM) complete(ctx context.Context, c call, msgs []openai.ChatCompletionMessageParamUnion) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, l.cfg.LLMTimeout)
	defer cancel()
	params := openai.ChatCompletionNewParams{
		Model:       shared.ChatModel(l.cfg.LLMModel),
		Messages:    msgs,
		Temperature: openai.Float(c.temperature),
	}
	if l.cfg.JSONSchema {
		params.ResponseFormat = openai.ChatCompletionNewParamsResponseFormatUnion{OfJSONSchema: &shared.ResponseFormatJSONSchemaParam{
			JSONSchema: shared.ResponseFormatJSONSchemaJSONSchemaParam{Name: c.schema.name, Schema: c.schema.schema, Strict: openai.Bool(true)},
		}}
	} else {
		params.ResponseFormat = openai.ChatCompletionNewParamsResponseFormatUnion{OfJSONObject: &shared.ResponseFormatJSONObjectParam{}}
	}
	ctx, failure := withFailureCapture(ctx)
	t0 := time.Now()
	res, err := l.oa.New(ctx, params)
	u := parley.Usage{LLMCalls: 1, ProviderMS: time.Since(t0).Milliseconds()}
	if err == nil {
		u.LLMPromptTokens = int(res.Usage.PromptTokens)
		u.LLMCompletionTokens = int(res.Usage.CompletionTokens)
	}
	parley.UsageFromContext(ctx).Add(u)
	if err != nil {
		return "", classifyCall(llmProvider, err, failure) // the caller names the step
	}
	l.log.DebugContext(ctx, "chat completion", "request", c.request, "schema", c.schema.name, "prompt_tokens", u.LLMPromptTokens,
		"completion_tokens", u.LLMCompletionTokens, "ms", u.ProviderMS)
	if len(res.Choices) == 0 {
		return "", parley.Errorf(parley.ETRANSIENT, "%s request: the %s returned no answer", c.request, llmProvider)
	}
	return res.Choices[0].Message.Content, nil
}
