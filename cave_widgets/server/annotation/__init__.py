"""The AnnotationEngine of the embedded server (routes in ``server/routes_annotation.py``):
``rows`` validates posted rows against their schema, ``errors`` renders AE's error texts,
``tables`` keeps tables and rows in the store's writable ``work`` database."""
