"""One module per benchmark; :mod:`star1.eval.registry` lists them."""
