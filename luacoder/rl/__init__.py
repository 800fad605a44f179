"""What the RL stage (deepspeed/RL) shares: LoRA set-up and merging, preference and prompt data, GRPO rewards."""
