"""What runs inside the serving process (Triton), and nothing else."""
