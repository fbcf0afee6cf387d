from . import discuss, main
