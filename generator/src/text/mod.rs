//! Text engine: decoder-only LLMs (Llama family, GPT-2) with generation and structured output.
//! Filled in by the text-engine issue.
