"""Entity resolution: one node per real thing, whatever name (zh, en, model, SKU) a source used."""
from __future__ import annotations

from kefu.kg.base import Entity, GraphStore, entity_id, norm_alias


class Resolver:
    """Maps names to entity ids using the tenant's graph plus the entities of the batch being built.

    A name that is already an alias of exactly one entity resolves to it (so "诺瓦X1 Pro" in a document
    and "Nova X1 Pro Noise-Cancelling Headphones" in the catalogue are the same node); otherwise a new
    entity is made with a stable id.
    """

    def __init__(self, graph: GraphStore | None, tenant: str) -> None:
        self.tenant = tenant
        self.known: dict[str, list[str]] = graph.aliases(tenant) if graph is not None else {}
        self.names: dict[str, str] = {}  # id → display name of known entities, filled on demand
        self.graph = graph
        self.batch: dict[str, Entity] = {}
        self._batch_alias: dict[str, str] = {}

    def lookup(self, name: str) -> str | None:
        """The id of the one entity called ``name`` (in this batch first), else ``None``."""
        key = norm_alias(name)
        if key in self._batch_alias:
            return self._batch_alias[key]
        ids = self.known.get(key, [])
        return ids[0] if len(set(ids)) == 1 else None

    def refer(self, name: str, type_: str = "thing") -> tuple[str, str]:
        """``(id, name)`` of the entity ``name`` refers to, without redefining an existing one.

        Mentions found by NER or alias matching use this: "Nova Watch S2" in a policy names the catalogue's
        product and must not rename it or change its type.
        """
        found = self.lookup(name)
        if found and found in self.batch:
            return found, self.batch[found].name
        if found and self.graph is not None:
            if found not in self.names:
                self.names[found] = self.graph.get_entity(self.tenant, found).name
            return found, self.names[found]
        entity = self.entity(name, type_)
        return entity.id, entity.name

    def entity(self, name: str, type_: str = "thing", aliases: list[str] | tuple = (),
               meta: dict | None = None, *, define: bool = False) -> Entity:
        """The batch entity for ``name`` (created, or merged with an existing one) with ``aliases`` added.

        An entity already in the graph keeps its name and type unless ``define`` (the source that owns it,
        such as the catalogue row of a product, says what it is called now).
        """
        found = None
        for candidate in (name, *aliases):
            found = self.lookup(candidate)
            if found:
                break
        eid = found or entity_id(type_, name)
        entity = self.batch.get(eid)
        if entity is None:
            entity = Entity(self.tenant, eid, name.strip(), type_, [], dict(meta or {}))
            if found and not define and self.graph is not None:
                existing = self.graph.get_entity(self.tenant, found)
                entity.name, entity.meta = existing.name, {**existing.meta, **entity.meta}
                entity.type = existing.type if existing.type != "thing" else type_
            self.batch[eid] = entity
        else:
            entity.meta.update(meta or {})
            if entity.type == "thing" and type_ != "thing":  # a more specific type wins over the default
                entity.type = type_
        for alias in (name, *aliases):
            alias = alias.strip()
            if alias and alias != entity.name and alias not in entity.aliases:
                entity.aliases.append(alias)
        for alias in (entity.name, *entity.aliases):
            self._batch_alias.setdefault(norm_alias(alias), eid)
        return entity

    def entities(self) -> list[Entity]:
        return list(self.batch.values())
