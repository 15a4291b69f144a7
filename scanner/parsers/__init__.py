"""One module per file format. Each ``parse(text, path)`` returns a document whose values know their
file, line and column, and whose ``errors`` list holds what the parser rejected. No parser raises."""
