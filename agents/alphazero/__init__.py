"""AlphaZero: batched tree search (search.py), a policy-value network (network.py), opponents and
Elo (opponents.py), and the self-play loop with play and evaluation (agent.py)."""
