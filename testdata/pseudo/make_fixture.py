"""scikit-learn's self-training selection on fixed probabilities, for slm's pseudo-label selection
(crates/slm-train/src/pseudo.rs) to reproduce.

An estimator that returns a fixed probability table stands in for the model, so that one iteration of
`SelfTrainingClassifier` (max_iter=1) shows exactly which unlabeled rows its rule picks and with which
label. The `threshold` cases use probabilities rounded to two decimals, so that many equal the threshold
(which scikit-learn excludes); the `k_best` cases use distinct probabilities (its `argpartition` breaks
ties arbitrarily; six decimals keep them apart).

    python make_fixture.py     (numpy and scikit-learn installed)
"""
import json
import pathlib

import numpy as np
import sklearn
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.semi_supervised import SelfTrainingClassifier

HERE = pathlib.Path(__file__).parent


class Fixed(BaseEstimator, ClassifierMixin):
    """Returns row X[i, 0] of a fixed probability table."""

    def __init__(self, table=None):
        self.table = table

    def fit(self, X, y):
        self.classes_ = np.arange(self.table.shape[1])
        return self

    def predict_proba(self, X):
        return self.table[X[:, 0].astype(int)]

    def predict(self, X):
        return self.classes_[np.argmax(self.predict_proba(X), axis=1)]


def run(table, labeled, **rule):
    n = table.shape[0]
    X = np.arange(n, dtype=float).reshape(-1, 1)
    y = np.full(n, -1)
    y[:labeled] = np.arange(labeled) % table.shape[1]
    st = SelfTrainingClassifier(Fixed(table), max_iter=1, **rule).fit(X, y)
    picked = [i - labeled for i in range(labeled, n) if st.labeled_iter_[i] == 1]
    return picked, [int(st.transduction_[i + labeled]) for i in picked]


def main():
    rng = np.random.default_rng(7)
    cases = []
    for classes, rounded in [(2, True), (3, True), (5, False), (3, False)]:
        table = rng.dirichlet(np.full(classes, 0.3), size=120)
        if rounded:
            table = np.round(table, 2)
        else:
            table = np.round(table, 6)
        labeled = classes
        unlabeled = table[labeled:]
        rules = [{"criterion": "threshold", "threshold": t} for t in (0.5, 0.75, 0.9, 0.99)] if rounded else \
                [{"criterion": "k_best", "k_best": k} for k in (1, 10, 100)]
        for rule in rules:
            picked, labels = run(table, labeled, **rule)
            cases.append({"probs": unlabeled.tolist(), "rule": rule, "selected": picked, "labels": labels})
    (HERE / "sklearn_selection.json").write_text(json.dumps({"cases": cases, "sklearn": sklearn.__version__}) + "\n")
    print(len(cases), "cases", [len(c["selected"]) for c in cases])


if __name__ == "__main__":
    main()
