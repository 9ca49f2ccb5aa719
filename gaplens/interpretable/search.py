"""Branch and bound over rule lists, with the bounds of CORELS (Angelino et al., JMLR 2018).

A rule list is a *prefix* ``(r_1, ..., r_k)`` of antecedents, each predicting the majority label
of what it captures (what it holds on and no earlier rule captured), and a default rule that
predicts the majority of the rest. Its objective is

    R = misclassified / n + regularization * k.

The search keeps a priority queue of prefixes. Expanding a prefix evaluates *all* its children
``prefix + (r,)`` in one vectorized step over the antecedent bitsets, and prunes with

- the hierarchical objective lower bound: ``b(prefix + r) = b(prefix) + errors of r / n + lambda``,
  a child is kept only when ``b < best objective``;
- the minimum-support bounds: a rule must capture at least ``lambda * n`` samples and classify at
  least ``lambda * n`` of them correctly (both shrink along a prefix, so a rule that fails them
  is never tried again below that prefix);
- the equivalent-points bound: samples with the same antecedent values but the minority label
  are misclassified by every rule list; those not yet captured are added to the lower bound;
- the one-step look-ahead: a prefix is queued only when ``b + lambda < best`` (any child costs
  another ``lambda``);
- the prefix permutation map: of the prefixes with the same *set* of rules (they capture the same
  samples), only the one with the smallest lower bound is kept, the others are dropped with their
  subtrees.

The queue is exhausted exactly when the best rule list found is optimal (``certified``).
"""

from __future__ import annotations

import heapq
import itertools
import math
import time
from dataclasses import dataclass, field

import numpy as np

from gaplens.interpretable.antecedents import pack_bits, popcount, unpack_bits

__all__ = ["POLICIES", "BOUNDS", "SearchResult", "PermutationMap", "branch_and_bound", "minority_bits",
           "rule_list_objective"]

#: Queue orders: CORELS' curiosity (lower bound per captured sample), lower bound, objective,
#: breadth first, depth first.
POLICIES = ("curious", "lower_bound", "objective", "bfs", "dfs")
#: Bounds that can be switched off one at a time (the hierarchical lower bound is always on).
BOUNDS = ("support", "equivalent_points", "lookahead", "permutation_map")


def _count(words: np.ndarray) -> np.ndarray:
    """Set bits per row of ``(..., W)`` words: ``(...)`` int64."""
    return popcount(words).sum(axis=-1, dtype=np.int64)


def minority_bits(bits: np.ndarray, y_bits: np.ndarray, n: int) -> np.ndarray:
    """Samples that no rule list over these antecedents can classify correctly, packed ``(W,)``.

    Samples with identical antecedent values form a group that every rule list treats alike; the
    samples carrying the group's minority label are always misclassified (a tie: the positives).
    """
    if not len(bits):
        return np.zeros_like(y_bits)
    columns = unpack_bits(bits, n).T                       # (n, R): one row of antecedent values per sample
    _, group = np.unique(np.packbits(columns, axis=1), axis=0, return_inverse=True)
    group = group.ravel()
    y = unpack_bits(y_bits[None], n)[0]
    positives = np.bincount(group, weights=y, minlength=group.max() + 1)
    sizes = np.bincount(group, minlength=group.max() + 1)
    majority_one = positives > sizes - positives
    return pack_bits(y != majority_one[group])


@dataclass
class SearchResult:
    """What :func:`branch_and_bound` found.

    Attributes:
        prefix: indices of the antecedents of the best rule list, in order.
        objective: its objective.
        certified: the queue was exhausted: no rule list has a smaller objective.
        lower_bound: no rule list has an objective below this (``== objective`` when certified).
        n_nodes: prefixes expanded (their children evaluated).
        n_queued: prefixes put in the queue.
        max_queue: the largest queue length.
        elapsed: seconds.
        stopped: ``"exhausted"``, ``"max_nodes"`` or ``"time_limit"``.
        history: ``(nodes expanded, seconds, best objective, lower bound)`` rows, ``(T, 4)``.
    """

    prefix: tuple[int, ...]
    objective: float
    certified: bool
    lower_bound: float
    n_nodes: int
    n_queued: int
    max_queue: int
    elapsed: float
    stopped: str
    history: np.ndarray = field(repr=False)


class _Node:
    """A prefix in the search tree: the last rule, a link to its parent, its bounds."""

    __slots__ = ("parent", "rule", "depth", "pure_lb", "lb", "objective", "candidates", "key", "dead")

    def __init__(self, parent: _Node | None, rule: int, depth: int, pure_lb: float, lb: float,
                 objective: float, candidates: np.ndarray, key: int) -> None:
        self.parent = parent
        self.rule = rule
        self.depth = depth
        self.pure_lb = pure_lb          # lower bound without the equivalent-points term
        self.lb = lb                    # with it (when that bound is on)
        self.objective = objective
        self.candidates = candidates    # rules that may still pass the support bounds below this prefix
        self.key = key                  # the set of rules as a bit mask (the permutation map's key)
        self.dead = False

    def prefix(self) -> tuple[int, ...]:
        out = []
        node = self
        while node.parent is not None:
            out.append(node.rule)
            node = node.parent
        return tuple(reversed(out))

    def alive(self) -> bool:
        node = self
        while node is not None:
            if node.dead:
                return False
            node = node.parent
        return True


class PermutationMap:
    """The prefix permutation map: for each *set* of rules, the best prefix (smallest lower bound).

    Two prefixes with the same rules capture the same samples, so every extension of the one with
    the larger lower bound is beaten by the same extension of the other: only one is kept.

    A set of rules is a bit mask (a Python int). The map is keyed by the mask's bytes, not by the
    int: CPython hashes an int modulo the Mersenne prime 2**61 - 1, so ``1 << r`` hashes to
    ``2 ** (r % 61)`` and sets of rules that differ by multiples of 61 collide. With 642
    antecedents, 200,000 random three-rule sets had only 38,000 distinct int hashes, and the
    probing made each lookup ~8 us (the search's largest cost); bytes hash with SipHash.
    """

    def __init__(self) -> None:
        self._best: dict[bytes, tuple[float, _Node, int]] = {}

    def __len__(self) -> int:
        return len(self._best)

    def insert(self, key: int, lower_bound: float, node: _Node) -> bool:
        """Offer ``node`` (rules ``key``, a bit mask); True when it is kept. A node it beats
        is marked dead (with its subtree); on a tie the earlier one stays."""
        packed = key.to_bytes((key.bit_length() + 7) // 8, "little")
        old = self._best.get(packed)
        if old is not None:
            if lower_bound >= old[0]:
                return False
            old[1].dead = True
        self._best[packed] = (lower_bound, node, key)
        return True

    def prefixes(self) -> dict[int, tuple[int, ...]]:
        """The prefix kept for each set of rules (keyed by the bit mask)."""
        return {key: node.prefix() for _, node, key in self._best.values()}


def _majority(count: np.ndarray, positives: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Prediction (1 on a tie, as CORELS) and the number it gets right."""
    predict_one = positives >= count - positives
    return predict_one, np.where(predict_one, positives, count - positives)


def rule_list_objective(bits: np.ndarray, y_bits: np.ndarray, n: int, prefix: tuple[int, ...],
                        regularization: float) -> float:
    """Objective of the rule list ``prefix`` (majority predictions): errors / n + lambda * k."""
    remaining = np.zeros_like(y_bits)
    remaining[:] = ~np.uint64(0)
    remaining &= pack_bits(np.ones(n, dtype=bool))
    errors = 0
    for r in prefix:
        captured = bits[r] & remaining
        count, pos = int(_count(captured)), int(_count(captured & y_bits))
        errors += min(pos, count - pos)
        remaining &= ~bits[r]
    count, pos = int(_count(remaining)), int(_count(remaining & y_bits))
    errors += min(pos, count - pos)
    return errors / n + regularization * len(prefix)


def branch_and_bound(bits: np.ndarray, y_bits: np.ndarray, n: int, regularization: float, *,
                     policy: str = "curious", bounds: tuple[str, ...] = BOUNDS, max_nodes: int | None = None,
                     time_limit: float | None = None, progress: bool = False,
                     permutation_map: PermutationMap | None = None) -> SearchResult:
    """Find the rule list over antecedents ``bits`` that minimizes the CORELS objective.

    Args:
        bits: ``(R, W)`` uint64 packed truth tables of the antecedents over ``n`` samples.
        y_bits: ``(W,)`` packed labels (bit set: label 1).
        n: number of samples.
        regularization: lambda, the cost of one rule (a fraction of the samples), ``>= 0``.
        policy: one of :data:`POLICIES`.
        bounds: the bounds of :data:`BOUNDS` to use (the hierarchical lower bound always is).
        max_nodes: stop after expanding this many prefixes (``None``: no limit).
        time_limit: stop after this many seconds (``None``: no limit).
        progress: show a tqdm bar of expanded prefixes.
        permutation_map: the map to fill (to inspect it); a new one by default.

    Returns:
        :class:`SearchResult`; ``certified`` when the queue was exhausted.
    """
    if policy not in POLICIES:
        raise ValueError(f"policy must be one of {POLICIES}, got {policy!r}")
    unknown = set(bounds) - set(BOUNDS)
    if unknown:
        raise ValueError(f"unknown bound(s) {sorted(unknown)}; known: {BOUNDS}")
    use_support = "support" in bounds
    use_equiv = "equivalent_points" in bounds
    lookahead = regularization if "lookahead" in bounds else 0.0
    pmap = permutation_map if permutation_map is not None else PermutationMap()
    use_pmap = "permutation_map" in bounds
    start = time.perf_counter()
    bits = np.ascontiguousarray(bits, dtype=np.uint64)
    full = pack_bits(np.ones(n, dtype=bool))
    minority = minority_bits(bits, y_bits, n) if use_equiv else np.zeros_like(y_bits)
    threshold = regularization * n
    lam = float(regularization)

    positives = int(_count(y_bits))
    best = min(positives, n - positives) / n
    best_prefix: tuple[int, ...] = ()
    root_lb = int(_count(minority)) / n
    root = _Node(None, -1, 0, 0.0, root_lb, best, np.arange(len(bits)), 0)
    counter = itertools.count()

    def priority(node: _Node, n_captured: int) -> float:
        if policy == "curious":
            return node.pure_lb * n / n_captured if n_captured else math.inf
        if policy == "lower_bound":
            return node.lb
        if policy == "objective":
            return node.objective
        return node.depth if policy == "bfs" else -node.depth

    queue: list[tuple[float, int, _Node]] = [(0.0, next(counter), root)]
    n_nodes = n_queued = 0
    max_queue = 1
    history: list[tuple[int, float, float, float]] = []
    next_record = 1
    stopped = "exhausted"
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(desc="rule lists", unit="prefix", total=max_nodes)

    def queue_bound(exact: bool = False) -> float:
        # every rule list below a queued prefix costs at least its lower bound + lambda; while
        # searching, dropped (dead) prefixes are counted too: a weaker but still valid bound
        live = (node.lb for _, _, node in queue if not exact or node.alive())
        return min(best, min(live, default=math.inf) + lookahead)

    while queue:
        node = queue[0][2]
        if node.dead or node.lb + lookahead >= best or not node.alive():
            heapq.heappop(queue)
            continue
        if max_nodes is not None and n_nodes >= max_nodes:
            stopped = "max_nodes"
            break
        if time_limit is not None and time.perf_counter() - start > time_limit:
            stopped = "time_limit"
            break
        heapq.heappop(queue)
        n_nodes += 1
        prefix = node.prefix()
        remaining = full.copy()
        for r in prefix:
            remaining &= ~bits[r]
        candidates = node.candidates
        cand_bits = bits[candidates]
        captured = cand_bits & remaining
        count = _count(captured)
        pos = _count(captured & y_bits)
        predict_one, correct = _majority(count, pos)
        ok = count > 0      # the rules of the prefix capture nothing, nor do rules covered by it
        if use_support:
            ok &= (count >= threshold) & (correct >= threshold)
        child_candidates = candidates[ok]
        lb = node.pure_lb + (count - correct) / n + lam
        ok &= lb < best
        idx = np.flatnonzero(ok)
        if len(idx):
            rest = remaining & ~cand_bits[idx]
            rest_count = _count(rest)
            rest_pos = _count(rest & y_bits)
            _, rest_correct = _majority(rest_count, rest_pos)
            objective = lb[idx] + (rest_count - rest_correct) / n
            j = int(np.argmin(objective))
            if objective[j] < best:
                best = float(objective[j])
                best_prefix = prefix + (int(candidates[idx[j]]),)
                history.append((n_nodes, time.perf_counter() - start, best, math.nan))
            child_lb = lb[idx]
            if use_equiv:
                child_lb = child_lb + _count(rest & minority) / n
            push = np.flatnonzero(child_lb + lookahead < best)
            if len(push):
                captured_total = n - rest_count[push]
                for k, nc, pure, low, obj in zip(push.tolist(), captured_total.tolist(), lb[idx[push]].tolist(),
                                                 child_lb[push].tolist(), objective[push].tolist(), strict=True):
                    rule = int(candidates[idx[k]])
                    key = node.key | (1 << rule)
                    child = _Node(node, rule, node.depth + 1, pure, low, obj, child_candidates, key)
                    if use_pmap and not pmap.insert(key, low, child):
                        continue
                    heapq.heappush(queue, (priority(child, nc), next(counter), child))
                    n_queued += 1
                max_queue = max(max_queue, len(queue))
        if n_nodes >= next_record:
            history.append((n_nodes, time.perf_counter() - start, best, queue_bound()))
            next_record *= 2
        if bar is not None and n_nodes % 256 == 0:
            bar.update(256)
            bar.set_postfix(best=f"{best:.4f}", queue=len(queue))
    certified = stopped == "exhausted"
    lower = best if certified else queue_bound(exact=True)
    elapsed = time.perf_counter() - start
    history.append((n_nodes, elapsed, best, lower))
    if bar is not None:
        bar.update(n_nodes - bar.n)
        bar.close()
    return SearchResult(prefix=best_prefix, objective=best, certified=certified, lower_bound=lower,
                        n_nodes=n_nodes, n_queued=n_queued, max_queue=max_queue, elapsed=elapsed,
                        stopped=stopped, history=np.array(history, dtype=float).reshape(-1, 4))
