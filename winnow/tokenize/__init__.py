"""Tokenizers fixed per scale, and tokenize + shuffle + pack into fixed-length sequences."""
