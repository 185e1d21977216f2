"""A realistic transaction simulator with known frauds and credit ground truth.

It follows the generative process of the fraud-detection handbook (Le Borgne
et al., "Reproducible Machine Learning for Credit Card Fraud Detection -
Practical Handbook", chapter 3): customers and terminals on a 100x100 grid,
each customer using the terminals within a radius, per-customer amount and
Poisson daily counts, times around midday, and three fraud scenarios.
Vectorised with numpy; one seed makes it deterministic.

- `profiles.py`: customers (with their card token), terminals, who can use which
- `transactions.py`: the legitimate process
- `frauds.py`: the three fraud scenarios
- `credit.py`: credit profiles, true probability of default, default labels
- `labels.py`: late `fraud-labels` events
- `events.py`: rows -> Transaction v1 / Label v1 JSON
"""

from producers.simulator.run import Simulation, SimulationConfig, simulate

__all__ = ["Simulation", "SimulationConfig", "simulate"]
