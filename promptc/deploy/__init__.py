"""Scale-out deployments of the KV-tree engine.

- :mod:`promptc.deploy.placement`: which replica holds which segment chain (fed by the replicas' KV
  events) and the choice of a replica for a request; pure Python, no Ray.
- :mod:`promptc.deploy.subscriber`: follows one replica's KV events (ZMQ SUB + vLLM's replay protocol)
  into a placement index.
- :mod:`promptc.deploy.ray`: N engine replicas as a Ray Serve deployment behind Ray Serve's HTTP proxy,
  routed by :class:`promptc.deploy.ray.router.SegmentHashRouter` (``pip install 'promptc[ray]'``).

Nothing here is imported by ``import promptc``; Ray is imported only by :mod:`promptc.deploy.ray`.
"""
