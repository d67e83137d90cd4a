// Package llm talks to the speech-to-text and chat-model providers through
// OpenAI-compatible protocols (openai-go), holds the prompts of every LLM
// step, caches results by content so that a retried step never pays twice,
// and accounts for every call's usage.
package llm
