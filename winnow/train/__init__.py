"""Training stage: the open_lm-architecture model, the packed-sequence loader, the training loop.

``model`` defines the DCLM/open_lm transformer as a ``transformers`` model (registered with the
Auto classes on import), ``data`` streams rows of the tokenize stage's ``tokens.npy`` and
``loop`` trains with AdamW + warmup/cosine, atomic checkpoints and bitwise-exact resume. Nothing is
imported here, so ``import winnow.train`` stays cheap (torch is loaded by the submodules).
"""
