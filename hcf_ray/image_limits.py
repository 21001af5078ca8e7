"""Image sizes every codec accepts (a leaf module: checking a file's header needs no torch)."""

MIN_IMAGE_SIDE = 64  # pixels, either side: the ladder's analysis transforms down-sample by 64
