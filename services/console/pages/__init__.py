"""One module per console page; each exposes ``routes(console) -> list[Route]``."""
