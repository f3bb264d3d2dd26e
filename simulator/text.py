"""Prompt building blocks for the simulator.

Everything here is plain data plus small functions that take ``r`` (a bound
``random.Random().random``) so that text generation is deterministic and cheap.
Functions never touch the global RNG.

The vocabulary is deliberately overlapping between benign and harvesting
traffic: consumer chat apps legitimately ask for step-by-step explanations
(also in other languages), eval runners send templated single-turn prompts and
batch jobs repeat one template thousands of times.  What separates harvesters
is the combination (elicitation + narrow focus + systematic sweep + long
outputs + machine timing), not a single keyword.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

R = Callable[[], float]


def pick(r: R, seq: Sequence):
    """Uniform choice using ``r()`` (faster than ``Random.choice``)."""
    return seq[int(r() * len(seq))]


# --------------------------------------------------------------------------
# Reasoning elicitation (harvesters).  Many phrasings, many languages.
# --------------------------------------------------------------------------

ELICIT_EN = (
    "Write out the internal reasoning behind this answer step by step.",
    "Show your chain of thought before giving the final answer.",
    "Think step by step and show every intermediate step.",
    "Explain your full reasoning process in detail, then state the answer.",
    "Walk through your thought process step by step, including dead ends.",
    "Before answering, reason it out loud, one step at a time.",
    "Give a detailed step-by-step derivation; do not skip any step.",
    "Lay out your reasoning as a numbered list of steps, then the final answer.",
    "Describe exactly how you arrive at the answer, showing all of your thinking.",
    "Show all work. Explain why each step follows from the previous one.",
    "Reason carefully and verbosely. Include your self-checks and corrections.",
    "First think privately, then write that thinking out in full, then answer.",
    "Provide a rigorous step-by-step solution with justification for every step.",
    "Output your complete reasoning trace followed by the answer.",
    "Break the problem into sub-problems and solve each, explaining your reasoning.",
    "Think through this like an expert would, narrating every step of your reasoning.",
    "Explain the reasoning in as much detail as possible, as if teaching it.",
    "Reflect on your approach, verify each step, and show the verification.",
)

ELICIT_ML = (
    "Explique paso a paso tu razonamiento antes de responder.",
    "Muestra todo tu razonamiento, paso a paso, y luego la respuesta final.",
    "Explique ton raisonnement étape par étape avant de donner la réponse.",
    "Détaille chaque étape de ta réflexion, sans en sauter aucune.",
    "Bitte Schritt für Schritt begründen und jeden Zwischenschritt zeigen.",
    "Erkläre deinen Denkprozess ausführlich, Schritt für Schritt.",
    "请一步一步地写出你的推理过程，然后给出最终答案。",
    "请详细展示你的思考过程，不要跳过任何步骤。",
    "ステップバイステップで推論を説明してから答えてください。",
    "考え方の過程をすべて詳しく書き出してください。",
    "Объясни ход рассуждений шаг за шагом.",
    "Покажи всю цепочку рассуждений перед ответом.",
    "Explique seu raciocínio passo a passo antes de responder.",
    "Spiega il tuo ragionamento passo dopo passo, mostrando ogni passaggio.",
    "단계별로 추론 과정을 자세히 설명한 뒤 답을 제시하세요.",
    "Adım adım düşün ve tüm akıl yürütmeni yaz.",
    "Leg je redenering stap voor stap uit voordat je antwoordt.",
)

RUBRIC = (
    "Grade this answer against the rubric and explain each criterion.",
    "Score the response below on correctness, completeness and clarity (1-10 each), justifying every score.",
    "You are an expert grader. Compare the candidate answer with the reference and explain every point awarded or lost.",
    "Critique this solution step by step, identify every error, then write a corrected solution.",
    "Evaluate the following answer using the rubric. For each criterion, quote the evidence and explain your judgement.",
    "Rank these two answers and explain, criterion by criterion, why one is better.",
)

# --------------------------------------------------------------------------
# Harvester capability focus: topic lists swept systematically.
# --------------------------------------------------------------------------

CODING_TOPICS = (
    "binary search", "a LRU cache", "Dijkstra's algorithm", "a trie", "union-find",
    "topological sort", "a segment tree", "Knuth-Morris-Pratt", "a min-heap",
    "interval merging", "the longest increasing subsequence", "a rate limiter",
    "a thread-safe queue", "A* search", "a B-tree insert", "Bellman-Ford",
    "rolling hash substring search", "a consistent-hash ring", "a bloom filter",
    "edit distance", "the knapsack problem", "a skip list", "a red-black tree rotation",
    "matrix chain multiplication", "a sudoku solver", "n-queens", "a regex matcher",
    "a JSON parser", "an LFU cache", "a circular buffer", "Tarjan's SCC",
    "Kruskal's MST", "Prim's MST", "Floyd-Warshall", "a sparse table",
    "a Fenwick tree", "quickselect", "reservoir sampling", "a token bucket",
    "the two-sum problem", "word break", "a calculator parser", "serialize a binary tree",
    "detect a cycle in a linked list", "merge k sorted lists", "a mutex from atomics",
)
CODING_LANGS = ("Python", "Rust", "Go", "TypeScript", "C++", "Java", "Kotlin", "C")
CODING_TASKS = (
    "Implement {topic} in {lang} and analyse its time complexity.",
    "Write an efficient {lang} implementation of {topic}, with tests.",
    "Debug this {lang} implementation of {topic}: it fails on input size {n}.",
    "Prove the correctness of {topic} and give a {lang} implementation.",
    "Optimise a naive {lang} solution of {topic} for n = {n}.",
    "Explain the invariants of {topic} and implement it in {lang}.",
)

MATH_TOPICS = (
    "modular arithmetic", "quadratic residues", "generating functions",
    "the pigeonhole principle", "inclusion-exclusion", "conditional probability",
    "Markov chains", "eigenvalues of a 3x3 matrix", "integration by parts",
    "Taylor series", "complex roots of unity", "Diophantine equations",
    "combinatorial identities", "graph colouring", "the AM-GM inequality",
    "Cauchy-Schwarz", "recurrence relations", "expected value of a stopping time",
    "geometry of triangles", "the Chinese remainder theorem", "limits of sequences",
    "linear programming duality", "Bayes' theorem", "vector calculus",
    "number of lattice paths", "partial fractions", "Fermat's little theorem",
    "polynomial remainders", "convex optimisation", "random walks",
)
MATH_TASKS = (
    "Solve: find all integers x with {a}x ≡ {b} (mod {c}). Topic: {topic}.",
    "A competition problem on {topic}: prove that the expression {a}n^2 + {b}n + {c} is never a perfect square for n > {d}.",
    "Compute the exact value, using {topic}: how many ways are there to choose {a} items from {c} with no two adjacent?",
    "Problem ({topic}): a fair die is rolled until the running sum exceeds {c}. Find the expected number of rolls.",
    "Using {topic}, evaluate the sum of k^{a} / {b}^k for k = 1 to infinity.",
    "Olympiad-style ({topic}): let a, b, c > 0 with a + b + c = {a}. Find the minimum of {b}/a + {c}/b + {d}/c.",
)

AGENT_TOPICS = (
    "book a multi-city flight", "reconcile two CSV ledgers", "triage a failing CI pipeline",
    "migrate a database schema", "summarise a week of support tickets",
    "plan a data-center maintenance window", "refactor a legacy module with tests",
    "investigate a latency regression", "set up a Kubernetes canary rollout",
    "research competitors and build a comparison table", "fix a flaky integration test",
    "rotate leaked credentials across services", "build a weekly sales report",
    "clean and deduplicate a CRM export", "write and run a web scraper",
    "diagnose an out-of-memory crash", "upgrade a dependency with breaking changes",
    "answer a customer refund request", "organise a team offsite", "audit IAM policies",
)
AGENT_TASKS = (
    "You have tools search(), read_file(), run(cmd) and write_file(). Task: {topic}. Plan the tool calls, execute them one by one, and explain each decision.",
    "Act as an autonomous agent. Goal: {topic}. For every step output THOUGHT, ACTION, OBSERVATION, then a final report.",
    "Given the tools [browser, shell, python, email], {topic}. Describe your plan, each tool call with arguments, and how you handle errors.",
    "Simulate a ReAct trajectory for the task: {topic}. Include at least {a} tool calls and your reasoning between them.",
)

FOCUS_AREAS = ("coding", "math", "agentic")


def harvest_problem(r: R, area: str, topic_idx: int, variant: int) -> str:
    """A problem from ``area``; ``topic_idx`` walks the topic list systematically."""
    a = 2 + (variant * 7 + topic_idx) % 23
    b = 3 + (variant * 13 + topic_idx * 5) % 41
    c = 5 + (variant * 31 + topic_idx * 11) % 97
    d = 1 + (variant * 3 + topic_idx) % 19
    if area == "coding":
        topic = CODING_TOPICS[topic_idx % len(CODING_TOPICS)]
        tmpl = CODING_TASKS[variant % len(CODING_TASKS)]
        return tmpl.format(topic=topic, lang=pick(r, CODING_LANGS), n=10 ** (3 + variant % 5))
    if area == "math":
        topic = MATH_TOPICS[topic_idx % len(MATH_TOPICS)]
        tmpl = MATH_TASKS[variant % len(MATH_TASKS)]
        return tmpl.format(topic=topic, a=a, b=b, c=c, d=d)
    topic = AGENT_TOPICS[topic_idx % len(AGENT_TOPICS)]
    tmpl = AGENT_TASKS[variant % len(AGENT_TASKS)]
    return tmpl.format(topic=topic, a=a % 6 + 3)


def topics_len(area: str) -> int:
    return len(CODING_TOPICS if area == "coding" else MATH_TOPICS if area == "math" else AGENT_TOPICS)


def rubric_prompt(r: R, problem: str) -> str:
    return f"{pick(r, RUBRIC)}\n\nProblem: {problem}\n\nCandidate answer: [{int(r() * 900) + 100} words omitted]"


# Template sweepers: one template, slot variety, systematic order.
SWEEP_TEMPLATES = (
    "As an expert in {field}, solve: {problem}. Show all work.",
    "You are a world-class {field} professor. Problem: {problem}. Give a complete worked solution.",
    "Field: {field}. Question: {problem}. Answer with a detailed explanation of every step.",
    "Pretend you are teaching {field} to a graduate student. Solve {problem} and justify each step.",
)
SWEEP_FIELDS = (
    "number theory", "organic chemistry", "thermodynamics", "algorithms", "microeconomics",
    "linear algebra", "classical mechanics", "statistics", "compilers", "cryptography",
    "operating systems", "probability", "genetics", "electrical circuits", "game theory",
    "quantum mechanics", "databases", "distributed systems", "real analysis", "optimisation",
    "computer networks", "fluid dynamics", "accounting", "contract law", "pharmacology",
)
SWEEP_PROBLEMS = (
    "problem {i} from chapter {c}", "exercise {c}.{i}", "the classic problem #{i}",
    "qualifying exam question {c}-{i}", "case study {i}", "past paper {c}, question {i}",
)


def sweep_prompt(template: str, field_idx: int, item: int) -> str:
    field = SWEEP_FIELDS[field_idx % len(SWEEP_FIELDS)]
    prob = SWEEP_PROBLEMS[item % len(SWEEP_PROBLEMS)].format(i=item + 1, c=1 + field_idx % 12)
    return template.format(field=field, problem=prob)


# Hydra networks: a template family per network.
HYDRA_FAMILIES = (
    (
        "{elicit}\n\nTask: {problem}",
        "Task: {problem}\n\n{elicit}",
        "[ID {n}] {problem} -- {elicit}",
    ),
    (
        "Q{n}: {problem}\nInstructions: {elicit}",
        "Instructions: {elicit}\nQ{n}: {problem}",
        "Q{n}: {problem}\nInstructions: {elicit} Format the final answer as ANSWER: <x>.",
    ),
    (
        "<problem>{problem}</problem>\n<instructions>{elicit}</instructions>",
        "<instructions>{elicit}</instructions>\n<problem>{problem}</problem>",
    ),
    (
        "### Problem\n{problem}\n### Requirements\n{elicit}\n### Solution",
        "### Requirements\n{elicit}\n### Problem\n{problem}\n### Solution",
    ),
)

# --------------------------------------------------------------------------
# Benign: consumer chat.
# --------------------------------------------------------------------------

CHAT_EN = (
    "Can you help me write a {thing} for {audience}?",
    "What's the difference between {a} and {b}?",
    "My {device} keeps {problem}. What should I do?",
    "Give me {k} ideas for {occasion}.",
    "Summarize this article in {k} bullet points: {snippet}",
    "Rewrite this to sound more {tone}: {snippet}",
    "Is it safe to {activity} when {condition}?",
    "What's a good recipe with {ingr1} and {ingr2}?",
    "Plan a {k}-day trip to {city} on a budget.",
    "Translate to {lang}: {snippet}",
    "how do i {task}",
    "write a short poem about {subject}",
    "Can you explain {concept} like I'm five?",
    "Help me reply to this email from my {person}: {snippet}",
    "what are the pros and cons of {a} vs {b}",
    "Suggest a name for my {thing2}.",
    "Fix the grammar: {snippet}",
    "Why does {phenomenon} happen?",
    "Make a weekly workout plan for a {level} runner.",
    "I have {k} hours free tomorrow in {city}, what should I do?",
)
CHAT_STEP_EN = (
    "Can you explain step by step how {concept} works?",
    "Walk me through how to {task}, step by step please.",
    "Explain step by step how to solve {k}x + {n} = {m}, my kid is stuck on it.",
    "Show me step by step how to calculate the tip on a ${m} bill at {k}0%.",
    "What are the steps to {task}? Please go one step at a time.",
)
CHAT_FOLLOWUP_EN = (
    "Thanks! Can you make it shorter?", "What about {a}?", "ok and then?",
    "Can you give an example?", "Make it more {tone}.", "That didn't work, {problem} still.",
    "Can you put that in a table?", "perfect, one more: {task}?", "why?",
    "Could you translate that to {lang}?", "Great. Now do the same for {b}.",
    "I don't get it, can you explain that step by step?", "Can you break that down step by step?",
)

CHAT_ES = (
    "¿Me ayudas a escribir un mensaje para mi {person}?",
    "¿Qué diferencia hay entre {a} y {b}?",
    "Dame {k} ideas para {occasion}.",
    "¿Cómo puedo {task}?",
    "Resume este texto: {snippet}",
)
CHAT_STEP_ES = (
    "¿Me puedes explicar paso a paso cómo {task}?",
    "Explícame paso a paso cómo funciona {concept}.",
)
CHAT_DE = (
    "Kannst du mir helfen, eine E-Mail an meinen {person} zu schreiben?",
    "Was ist der Unterschied zwischen {a} und {b}?",
    "Gib mir {k} Ideen für {occasion}.",
    "Wie kann ich {task}?",
    "Fasse diesen Text zusammen: {snippet}",
)
CHAT_STEP_DE = (
    "Kannst du mir Schritt für Schritt erklären, wie {concept} funktioniert?",
    "Erkläre mir bitte Schritt für Schritt, wie ich {task}.",
)
CHAT_JA = (
    "{occasion}のアイデアを{k}つください。",
    "{a}と{b}の違いは何ですか？",
    "この文章を要約してください：{snippet}",
    "{person}へのメールを書くのを手伝ってください。",
)
CHAT_STEP_JA = (
    "{concept}の仕組みをステップバイステップで説明してください。",
)
CHAT_FR = (
    "Peux-tu m'aider à écrire un message à mon {person} ?",
    "Quelle est la différence entre {a} et {b} ?",
    "Donne-moi {k} idées pour {occasion}.",
    "Comment puis-je {task} ?",
)
CHAT_STEP_FR = (
    "Peux-tu m'expliquer étape par étape comment fonctionne {concept} ?",
)

CHAT_BY_LANG = {
    "en": (CHAT_EN, CHAT_STEP_EN),
    "es": (CHAT_ES, CHAT_STEP_ES),
    "de": (CHAT_DE, CHAT_STEP_DE),
    "ja": (CHAT_JA, CHAT_STEP_JA),
    "fr": (CHAT_FR, CHAT_STEP_FR),
}

SLOTS = {
    "thing": ("cover letter", "birthday toast", "LinkedIn post", "product description", "apology note",
              "wedding speech", "resignation letter", "bio", "haiku", "grocery list"),
    "thing2": ("bakery", "podcast", "cat", "startup", "D&D character", "band", "blog", "boat"),
    "audience": ("my boss", "a job application", "my grandmother", "a school newsletter", "customers",
                 "my landlord", "a conference", "my team"),
    "a": ("a Roth IRA", "Python", "baking soda", "a virus", "weather", "stocks", "LED bulbs", "yoga",
          "SQL", "an LLC", "espresso", "ibuprofen", "renting"),
    "b": ("a 401k", "JavaScript", "baking powder", "bacteria", "climate", "bonds", "CFL bulbs",
          "pilates", "NoSQL", "a sole proprietorship", "drip coffee", "paracetamol", "buying"),
    "device": ("laptop", "iPhone", "router", "printer", "smart TV", "car", "dishwasher", "headphones"),
    "problem": ("disconnecting from wifi", "freezing", "making a clicking noise", "overheating",
                "not charging", "showing an error", "restarting by itself"),
    "k": ("3", "5", "7", "10", "4", "2"),
    "n": ("3", "7", "12", "15", "4"),
    "m": ("19", "42", "64", "87", "120"),
    "occasion": ("a rainy weekend", "a 30th birthday", "team building", "a first date", "Thanksgiving",
                 "a kids' party", "a farewell gift", "date night at home"),
    "snippet": ("the meeting has been moved to thursday, pls confirm", "We regret to inform you that...",
                "Our Q3 results exceeded expectations in every region except EMEA.",
                "hey! long time no see, are you free next week?",
                "The city council voted 5-2 to approve the new bike lanes.",
                "I am writing to follow up on my application for the analyst role."),
    "tone": ("professional", "friendly", "concise", "formal", "funny", "confident", "polite"),
    "activity": ("run", "fly", "drink coffee", "take ibuprofen", "swim", "drive"),
    "condition": ("pregnant", "it's 35°C outside", "I have a cold", "after surgery", "it's icy"),
    "ingr1": ("chickpeas", "salmon", "tofu", "leftover rice", "spinach", "eggs", "chicken thighs"),
    "ingr2": ("coconut milk", "lemon", "feta", "mushrooms", "sweet potato", "pesto", "kimchi"),
    "city": ("Lisbon", "Kyoto", "Mexico City", "Berlin", "Chicago", "Seoul", "Cape Town", "Montreal"),
    "lang": ("Spanish", "French", "German", "Japanese", "Portuguese", "Italian", "Korean"),
    "task": ("reset my router", "file taxes as a freelancer", "change a bike tire", "make sourdough",
             "set up a budget", "unclog a drain", "negotiate a raise", "learn to touch type",
             "set up two-factor authentication", "make a pivot table"),
    "subject": ("autumn", "my dog", "the ocean", "coffee", "Monday mornings", "the moon", "friendship"),
    "concept": ("compound interest", "photosynthesis", "a blockchain", "inflation", "vaccines",
                "the stock market", "black holes", "machine learning", "mortgages", "GPS"),
    "person": ("boss", "landlord", "teacher", "client", "neighbor", "coworker", "ex"),
    "phenomenon": ("the sky look blue", "my bread not rise", "ice float", "hair turn grey",
                   "the moon look bigger at the horizon", "static electricity"),
    "level": ("beginner", "intermediate", "advanced"),
}



class _SlotFiller(dict):
    """format_map mapping that draws slot values lazily with ``r``."""

    __slots__ = ("r",)

    def __missing__(self, key):
        v = pick(self.r, SLOTS[key])
        self[key] = v
        return v


def fill(r: R, tmpl: str) -> str:
    f = _SlotFiller()
    f.r = r
    return tmpl.format_map(f)


def chat_prompt(r: R, lang: str, step_share: float) -> str:
    plain, step = CHAT_BY_LANG.get(lang, CHAT_BY_LANG["en"])
    if r() < step_share:
        return fill(r, pick(r, step))
    return fill(r, pick(r, plain))


def chat_followup(r: R, lang: str) -> str:
    if lang != "en" and r() < 0.7:
        plain, _ = CHAT_BY_LANG[lang]
        return fill(r, pick(r, plain))
    return fill(r, pick(r, CHAT_FOLLOWUP_EN))


# --------------------------------------------------------------------------
# Benign: retrieval-augmented app.
# --------------------------------------------------------------------------

RAG_QUESTIONS = (
    "What is our parental leave policy for employees in {city}?",
    "According to the attached contract, when does the notice period start?",
    "Which of the retrieved tickets mention a refund over $500?",
    "Summarize what the documentation says about configuring SSO.",
    "What did the Q3 board memo say about hiring?",
    "Does the warranty cover water damage for the {device}?",
    "Find the clause about data retention and explain it briefly.",
    "What are the side effects listed for this medication?",
    "How do I {task} according to the internal wiki?",
    "Which product SKUs were discontinued last year?",
)
RAG_WRAP = (
    "Answer using only the context below. If the answer is not in the context, say so.\n\nContext:\n[doc {d1}] ...\n[doc {d2}] ...\n\nQuestion: {q}",
    "Use the following passages to answer.\n---\n(passage {d1})\n(passage {d2})\n(passage {d3})\n---\n{q}",
    "{q}\n\nRelevant documents: #{d1}, #{d2}. Cite the document numbers in your answer.",
)


def rag_prompt(r: R) -> str:
    q = fill(r, pick(r, RAG_QUESTIONS))
    return pick(r, RAG_WRAP).format(q=q, d1=int(r() * 9000) + 1000, d2=int(r() * 9000) + 1000,
                                   d3=int(r() * 9000) + 1000)


# --------------------------------------------------------------------------
# Benign: enterprise batch jobs.
# --------------------------------------------------------------------------

VENDORS = ("Northwind Traders", "Contoso Ltd", "Globex", "Initech", "Umbrella Supplies", "Acme Corp",
           "Stark Logistics", "Wayne Paper", "Hooli Cloud", "Vandelay Imports")
CURRENCIES = ("USD", "EUR", "GBP", "JPY", "CAD")
REVIEWS = ("Arrived late but works fine.", "Terrible, broke after two days.", "Exactly as described!",
           "Meh. Does the job.", "Customer service was super helpful.", "Would not buy again.",
           "Five stars, fast shipping.", "The colour is different from the photo.")
TICKETS = ("I was charged twice this month", "Cannot log in after password reset",
           "How do I export my data?", "The app crashes when I upload a photo",
           "Please close my account", "Invoice shows the wrong VAT number",
           "API returns 502 intermittently", "Need to add a new admin user")

BATCH_TEMPLATES = (
    "Extract the fields vendor, invoice_number, date, total and currency as JSON from this invoice: "
    "INVOICE {n} | {vendor} | 2026-{mm:02d}-{dd:02d} | Total: {amt}.{cc:02d} {cur}",
    "Classify the sentiment of this product review as positive, negative or neutral. Review #{n}: \"{review}\"",
    "Categorize this support ticket into one of [billing, technical, account, other] and return JSON. "
    "Ticket {n}: {ticket}",
    "Redact all personal data from the following record and return the redacted record as JSON: "
    "record_id={n}; name=<name>; phone=<phone>; note=\"{ticket}\"",
    "Return JSON with keys product_type, color, size, material for catalogue item SKU-{n}: "
    "\"{vendor} {review}\"",
    "Translate the following product title to German, French and Spanish; respond as JSON. Item {n}: "
    "\"{vendor} premium edition\"",
)


def batch_prompt(r: R, tmpl_idx: int, n: int) -> str:
    return BATCH_TEMPLATES[tmpl_idx].format(
        n=n, vendor=pick(r, VENDORS), mm=1 + int(r() * 11), dd=1 + int(r() * 28),
        amt=int(r() * 20000), cc=int(r() * 100), cur=pick(r, CURRENCIES),
        review=pick(r, REVIEWS), ticket=pick(r, TICKETS))


# --------------------------------------------------------------------------
# Benign: coding agents.
# --------------------------------------------------------------------------

CODE_FILES = ("src/api/handlers.py", "lib/parser.ts", "cmd/server/main.go", "app/models/user.rb",
              "services/billing/invoice.py", "web/components/Table.tsx", "core/cache.rs",
              "tests/test_orders.py", "internal/queue/worker.go", "pkg/auth/token.go")
CODING_AGENT_USER = (
    "Fix the failing test in {file}.",
    "Add type hints to {file} and make mypy pass.",
    "Refactor {file} to use async I/O.",
    "Why is {file} slow? Profile it and propose a fix.",
    "Implement pagination for the list endpoint in {file}.",
    "Write unit tests for {file}.",
    "Update the dependency and fix the breaking changes in {file}.",
    "Rename the config option and update all call sites.",
)
CODING_AGENT_TOOL = (
    "Tool result (run_tests): {k} passed, {f} failed\nFAILED tests/test_{name}.py::test_{name}_edge_case",
    "Tool result (read_file {file}): <{k}00 lines>",
    "Tool result (grep): {k} matches in {f} files",
    "Tool result (bash): exit code {f}\n<output truncated>",
    "Tool result (apply_patch): patch applied to {file}",
    "Tool result (run_linter): {f} warnings in {file}",
)
CODE_NAMES = ("orders", "auth", "cache", "parser", "billing", "queue", "users", "search")


def coding_first(r: R) -> str:
    return pick(r, CODING_AGENT_USER).format(file=pick(r, CODE_FILES))


def coding_step(r: R) -> str:
    return pick(r, CODING_AGENT_TOOL).format(k=1 + int(r() * 200), f=int(r() * 6),
                                             file=pick(r, CODE_FILES), name=pick(r, CODE_NAMES))


# --------------------------------------------------------------------------
# Benign: eval runners.  Deterministic per (benchmark, item) so that a model
# sweep sends the very same prompt to several models.
# --------------------------------------------------------------------------

# (name, kind, nominal size) kind: mc = multiple choice scored by logprobs,
# gen = free generation (temperature 0), code = pass@k sampling (n > 1)
BENCHMARKS = (
    ("mmlu-pro", "mc", 12000), ("arc-challenge", "mc", 2590), ("hellaswag", "mc", 10042),
    ("internal-qa-v3", "gen", 4000), ("gsm8k", "gen", 1319), ("math-500", "gen", 500),
    ("humaneval-plus", "code", 164), ("mbpp", "code", 500), ("support-regression", "gen", 2500),
    ("truthfulqa-mc", "mc", 817), ("legal-extract-eval", "gen", 3000), ("safety-redteam-v2", "gen", 6000),
)
_MC_STEMS = (
    "Which of the following best describes {concept}?", "What is the main function of {c2}?",
    "Which statement about {concept} is correct?", "Which option completes the sentence: {snippet}",
)
_C2 = ("mitochondria", "the Federal Reserve", "a compiler", "the hippocampus", "a transistor", "chlorophyll")
_GEN_STEMS = (
    "Solve the following problem. Put the final answer in \\boxed{{}}.\nProblem {i}: a train travels {a} km in {b} hours; "
    "how far does it go in {c} hours at the same speed?",
    "Answer the question concisely.\nQ{i}: What year did event #{a} in the reference timeline occur?",
    "Extract the governing-law clause from contract {i} and return it verbatim.",
    "Respond to the following user message {i} according to policy: <message omitted>",
)


def eval_prompt(bench: str, kind: str, item: int) -> str:
    if kind == "mc":
        stem = _MC_STEMS[item % len(_MC_STEMS)].format(
            concept=SLOTS["concept"][item % len(SLOTS["concept"])],
            c2=_C2[item % len(_C2)], snippet=SLOTS["snippet"][item % len(SLOTS["snippet"])])
        return f"[{bench} #{item}] {stem}\nA) {item % 7 + 1}\nB) {item % 11 + 2}\nC) {item % 13 + 3}\nD) none of the above\nAnswer:"
    if kind == "code":
        return (f"[{bench} #{item}] Complete the following Python function.\n\ndef task_{item}(xs: list[int]) -> int:\n"
                f"    \"\"\"Return the {item % 5 + 1}-th smallest distinct value.\"\"\"\n")
    stem = _GEN_STEMS[item % len(_GEN_STEMS)].format(i=item, a=item % 97 + 3, b=item % 7 + 1, c=item % 11 + 2)
    return f"[{bench}] {stem}"


# --------------------------------------------------------------------------
# Low-and-slow / compromised: elicitation mixed with plain questions.
# --------------------------------------------------------------------------

def elicited(r: R, problem: str, phrasings: Sequence[str]) -> str:
    e = pick(r, phrasings)
    return f"{e}\n\n{problem}" if r() < 0.5 else f"{problem}\n\n{e}"


SYSTEM_PROMPTS = (
    "You are a helpful assistant.",
    "You are {name}, a friendly assistant for {company} customers. Be concise.",
    "You are an expert software engineer working in the user's repository. Use the tools provided.",
    "You extract structured data. Always answer with valid JSON matching the schema.",
    "Answer only from the provided context. Cite sources.",
    "You are a world-class reasoning engine. Always think step by step and show your full reasoning.",
)
