"""The gateway: an OpenAI chat-completions compatible front door in front of a model server."""
