"""The dialogue template: `<|system|>`, `<|user|>`, `<|assistant|>` turns, each closed by `<|end|>`.

It is stored as the tokenizer's Jinja `chat_template`, so `apply_chat_template`, vLLM and other servers format
prompts exactly as training did. The assistant's content and its `<|end|>` sit inside `{% generation %}` so that
`return_assistant_tokens_mask=True` marks exactly the tokens that are trained.
"""

SYSTEM, USER, ASSISTANT, END = "<|system|>", "<|user|>", "<|assistant|>", "<|end|>"
DIALOGUE_TOKENS = [SYSTEM, USER, ASSISTANT, END]
ROLES = ("system", "user", "assistant")

FIM_PREFIX, FIM_MIDDLE, FIM_SUFFIX, FIM_PAD = "<fim_prefix>", "<fim_middle>", "<fim_suffix>", "<fim_pad>"
FIM_TOKENS = [FIM_PREFIX, FIM_MIDDLE, FIM_SUFFIX, FIM_PAD]

EOS = "<|endoftext|>"

CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{% if message['role'] not in ['system', 'user', 'assistant'] %}"
    "{{ raise_exception('unknown role ' + message['role'] + ': expected system, user or assistant') }}"
    "{% endif %}"
    "{% if message['role'] == 'assistant' %}"
    "{{ '<|assistant|>\\n' }}{% generation %}{{ message['content'] + '<|end|>' }}{% endgeneration %}{{ '\\n' }}"
    "{% else %}"
    "{{ '<|' + message['role'] + '|>\\n' + message['content'] + '<|end|>\\n' }}"
    "{% endif %}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|assistant|>\\n' }}{% endif %}"
)
