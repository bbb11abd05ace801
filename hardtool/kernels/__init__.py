"""The C kernel library's Python side: filter layouts, kernel choice, batch runner."""
