"""What the RL stage (deepspeed/RL) shares: LoRA set-up and merging, preference and prompt data, GRPO rewards, the
settings a stage takes from its parent checkpoint, and on-policy preference pairs (`luacoder policy-pairs`)."""
