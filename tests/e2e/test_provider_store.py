"""The provider store (frontend/js/services/provider-store.js) in a real browser, over a fake
provider service: one read serves every subscriber, a read asked while one runs is never
answered with older data, and unchanged providers keep their objects."""

from __future__ import annotations

from typing import Any

import pytest

pytestmark = pytest.mark.browser

# A ProviderStore over a service whose answers the test holds back and lets go one by one.
FAKE_SERVICE = """
  const { ProviderStore } = await import("/js/services/provider-store.js");
  const held = [];
  const service = {
    providers: [],
    reads: 0,
    getProviders() {
      this.reads += 1;
      const answer = { success: true, providers: structuredClone(this.providers) };
      return new Promise((resolve) => held.push(() => resolve(answer)));
    },
    async getHealthStatuses() {
      const statuses = this.providers.map((p) => ({ providerId: p.id, status: "healthy" }));
      return { success: true, statuses };
    },
  };
  const release = async () => {
    held.shift()();
    await new Promise((resolve) => setTimeout(resolve, 0));
  };
  const store = new ProviderStore(service);
"""


def run(page: Any, body: str) -> Any:
    return page.evaluate(f"async () => {{ {FAKE_SERVICE} {body} }}")


def test_one_read_reaches_every_subscriber(page: Any) -> None:
    found = run(
        page,
        """
        service.providers = [{ id: "a", name: "alpha" }];
        const heard = [];
        store.subscribe((s) => heard.push(["view", s.providers.map((p) => p.name)]));
        store.subscribe((s) => heard.push(["picker", s.status("a").status]));
        const loading = store.load();
        await release();
        return { result: await loading, heard, reads: service.reads };
        """,
    )
    assert found == {
        "result": {"success": True},
        "heard": [["view", ["alpha"]], ["picker", "healthy"]],
        "reads": 1,
    }


def test_a_load_asked_during_a_read_reads_again_after_it(page: Any) -> None:
    found = run(
        page,
        """
        service.providers = [{ id: "a", name: "alpha" }];
        const first = store.load();
        service.providers = [{ id: "a", name: "alpha" }, { id: "b", name: "bravo" }];
        const second = store.load();
        const third = store.load();  // joins the second
        await release();
        await first;
        const afterFirst = store.providers.map((p) => p.name);
        await release();
        await Promise.all([second, third]);
        const afterSecond = store.providers.map((p) => p.name);
        return { afterFirst, afterSecond, reads: service.reads };
        """,
    )
    assert found == {"afterFirst": ["alpha"], "afterSecond": ["alpha", "bravo"], "reads": 2}


def test_an_unchanged_provider_keeps_its_object(page: Any) -> None:
    found = run(
        page,
        """
        service.providers = [{ id: "a", name: "alpha" }, { id: "b", name: "bravo" }];
        let loading = store.load();
        await release();
        await loading;
        const [a, b] = store.providers;
        service.providers = [{ id: "a", name: "alpha" }, { id: "b", name: "bravo-2" }];
        loading = store.load();
        await release();
        await loading;
        return { sameA: store.providers[0] === a, sameB: store.providers[1] === b };
        """,
    )
    assert found == {"sameA": True, "sameB": False}


def test_a_delete_and_a_check_reach_the_subscribers_without_a_read(page: Any) -> None:
    found = run(
        page,
        """
        service.providers = [{ id: "a", name: "alpha" }, { id: "b", name: "bravo" }];
        const loading = store.load();
        await release();
        await loading;
        let changes = 0;
        store.subscribe(() => (changes += 1));
        store.setStatuses([{ providerId: "a", status: "unhealthy" }]);
        store.removeProvider("b");
        return {
          changes,
          reads: service.reads,
          names: store.providers.map((p) => p.name),
          a: store.status("a").status,
          b: store.status("b"),
        };
        """,
    )
    assert found == {"changes": 2, "reads": 1, "names": ["alpha"], "a": "unhealthy", "b": None}
