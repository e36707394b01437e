"""The comparison protocol (docs/architecture.md; DESIGN §8): hyper-parameter draws from each
method's declared search space, equal budgets, selection rules."""
