//! Prompt templates from `prompts/`, rendered with minijinja in strict-undefined mode.
