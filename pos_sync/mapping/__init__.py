"""Product mapping as a service: the matcher of :mod:`transforms.mapping` run over a tenant's
published POS products and its catalog in the app store (:mod:`.auto`)."""
