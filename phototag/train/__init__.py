"""Fine-tuning ALTReco on a person's own tagged photos.

fit.py is the one pipeline (validation split, tensors, training, saved model);
finetune.py the training loop, data.py the tensors, split.py the seeded splits.
"""
