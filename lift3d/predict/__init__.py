"""Inference with trained models: the residual MLP lifter (one view to 3D)."""
