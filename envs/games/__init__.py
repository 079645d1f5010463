"""Board games: rules cores (NumPy, batched), PettingZoo AEC envs, pygame drawing and human play."""
