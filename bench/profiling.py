"""``--profile``: pingu under cProfile during the throughput scenario
(bench/results/profile-*.txt and .pstats)."""

from __future__ import annotations

from clients import run_client
from context import CHILDREN, PY, Ctx, greeting, log, stop


def profile_pingu(ctx: Ctx) -> dict:
    """pingu under cProfile during the throughput scenario (text and json)."""
    import pstats

    out = {}
    lines = 20_000 if ctx.quick else 100_000
    for variant, clients in (("pingu", 1), ("pingu.json", 1), ("pingu", 10)):
        tag = f"{variant}-{clients}"
        stats = ctx.out / f"profile-{tag}.pstats"
        child = [PY, str(CHILDREN / "flood.py"), "--lines", str(lines // clients)]
        server = ctx.pingu(child, f"prof{lines}", profile=stats)
        try:
            res = run_client(
                {
                    "url": server.url,
                    "sessions": clients,
                    **greeting(variant, "127.0.0.1"),
                    "mode": "drain",
                    "inflight": clients,
                    "deadline": 200,
                }
            )
        finally:
            stop(server)
        total = sum(r[4] for r in res["sessions"])
        text = ctx.out / f"profile-{tag}.txt"
        with open(text, "w") as f:
            f.write(f"# pingu under cProfile: {variant}, {clients} client(s), {total} messages\n")
            p = pstats.Stats(str(stats), stream=f)
            p.strip_dirs().sort_stats("tottime").print_stats(35)
            p.sort_stats("cumulative").print_stats(45)
        out[tag] = {"messages": total, "pstats": str(stats), "text": str(text)}
        log(f"profile {tag}: {total} messages -> {text}")
    return out
