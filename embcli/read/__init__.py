"""Stage 1, reading: the bytes and facts a question needs from outside, and nothing more.

safetensors headers and one-tensor memory maps, a checkpoint's tensors, ranged Hub reads, model
configs, which tensor is the table, tokenizer vocabularies, and word-vector files. Nothing here
knows about the cache; nothing here imports torch except the opt-in PyTorch checkpoint reader.
"""
