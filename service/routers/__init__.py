"""One router per resource; :data:`ALL` is what :func:`service.app.create_app` includes."""

from service.routers import (
    aliases,
    cluster,
    collections,
    facets,
    payload_index,
    points,
    recommend,
    relevance,
    search,
    service,
    snapshots,
)

ALL = [
    service.router,
    aliases.router,
    cluster.router,
    collections.router,
    points.router,
    search.router,
    recommend.router,
    facets.router,
    payload_index.router,
    snapshots.router,
    relevance.router,
]
