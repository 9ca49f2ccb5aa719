"""Models that are their own explanation: certifiably optimal rule lists (CORELS).

``RuleListClassifier`` (:mod:`.rulelist`) mines antecedents (:mod:`.antecedents`) and finds the
rule list with the smallest ``errors / n + regularization * rules`` by branch and bound
(:mod:`.search`), proving it optimal; :mod:`.figures` draws the search's progress.
"""

from gaplens.interpretable.antecedents import Antecedents, Literal, mine_antecedents
from gaplens.interpretable.bagnet import BagNet, evidence
from gaplens.interpretable.figures import search_progress_figure
from gaplens.interpretable.rulelist import Rule, RuleListClassifier
from gaplens.interpretable.search import BOUNDS, POLICIES, PermutationMap, SearchResult, branch_and_bound

__all__ = ["RuleListClassifier", "Rule", "Antecedents", "Literal", "mine_antecedents", "branch_and_bound",
           "SearchResult", "PermutationMap", "POLICIES", "BOUNDS", "search_progress_figure", "BagNet", "evidence"]
