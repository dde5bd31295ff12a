"""Guardrails: what the agent must never answer itself, and what a reply must never say.

Input guardrails are *blocking* (`run_in_parallel=False`): they run before the model sees the
message, so a pricing, refund, legal, angry, "human please", prompt-injection or (for an
English-only model) foreign-language message never reaches it. Detection is deterministic (the
same message always gets the same decision) and combines three things:
- patterns: the explicit wordings ("refund", "speak to a human", "$20", "lawyer");
- the intent classifier (services/agent/intents.py): the same needs in words no pattern lists
  ("what would 40 seats run us", "is there anyone who works there I could talk to"). It raises
  a concern on its own when its calibrated threshold is reached, and it can overrule a pattern
  only when that pattern matched one ambiguous word ("contract", "cost") in a message it is
  confident is an ordinary question ("removing a contractor whose contract ends");
- sentiment (VADER): strongly negative wording with some anger in it is anger even without a
  swear word.

The output guardrail blocks replies that state prices or make promises the knowledge base
does not back, or that leak the instructions, and re-checks the channel limits.

A tripped guardrail ends the run; agent.py escalates with the reason and sends a short,
kind handover message instead.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterable
from dataclasses import dataclass

from agents import GuardrailFunctionOutput, RunContextWrapper, input_guardrail, output_guardrail
from fte.conversation.v1 import conversation_service_pb2 as conv_pb

from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

from services.agent import language, linking
from services.agent.intents import Intent
from services.common import formatting
from services.common.text import clean_question

PRICING = conv_pb.ESCALATION_REASON_PRICING
REFUND = conv_pb.ESCALATION_REASON_REFUND
LEGAL = conv_pb.ESCALATION_REASON_LEGAL
ANGER = conv_pb.ESCALATION_REASON_ANGER
HUMAN_REQUEST = conv_pb.ESCALATION_REASON_HUMAN_REQUEST
OTHER = conv_pb.ESCALATION_REASON_OTHER


def _rx(*patterns: str) -> re.Pattern[str]:
    return re.compile("|".join(f"(?:{p})" for p in patterns), re.IGNORECASE)


# --- input ------------------------------------------------------------------------------

_PRICING = _rx(
    r"\b(?:pric(?:e|es|ed|ing|ier|iest|ey|y)|price ?lists?|cost|costs|costing|fee|fees|"
    r"discounts?|coupons?|promo ?codes?|quotes?|quotation|cheaper|cheapest|expensive|afford|"
    r"affordable|overpriced)\b",
    r"\bset (?:us|me|you|them) back\b|\bwhat (?:do|does|would|will) (?:you|it|flowboard) "
    r"charge\b|\bhow much (?:do|does|would|will) (?:you|it|flowboard) charge\b|"
    r"\b(?:monthly|yearly|annual) (?:bill|rate|charge|spend)\b",
    r"\bhow much (?:is|are|does|do|would|will|for)\b(?![^?.!]*\b(?:storage|space|members?|"
    r"boards?|runs?|automations?|history|data|requests?|webhooks?|tasks?|files?|"
    r"attachments?|time|users?|guests?|seats?)\b)",
    r"[$€£]\s?\d|\b\d+(?:[.,]\d+)?\s?(?:usd|eur|gbp|dollars?|euros?)\b",
    r"\bper (?:user|seat|member)\b",
    # "how much extra will show up on the bill", "any reduction for a charity like ours"
    r"\bhow much (?:\w+ ){0,3}(?:will|would|does|do|is|are|should)\b[^.?!]{0,60}"
    r"\b(?:bill|billed|invoice|invoiced|charge|charged|pay|paying|cost)\b",
    r"\b(?:offer|get|give|have|any)\b[^.?!]{0,20}\b(?:reductions?|concessions?)\b",
    r"\b(?:non-?profit|charity|charities|education(?:al)?|student|academic|startup|ngo)s?\s+"
    r"(?:discounts?|rates?|pricing|plans?|reductions?|deals?)\b",
    # Spanish, Portuguese, French, German, Italian
    r"\b(?:precios?|cu[aá]nto cuesta|descuentos?|pre[cç]os?|quanto custa|descontos?|prix|"
    r"combien co[uû]te|remise|preise?|kostet|rabatt|prezzo|quanto costa|sconto)\b",
)

_REFUND = _rx(
    r"\b(?:refunds?|refunded|refunding|reimburse\w*|money back|chargebacks?|charge-?backs?|"
    r"charge reversals?|reverse (?:the|a|my|this) charges?)\b",
    r"\bcredits?\b(?!\s*cards?)",
    r"\b(?:charged|billed|invoiced)\s+(?:me\s+|us\s+)?(?:twice|double|two times|"
    r"incorrectly|wrongly|by mistake|too much)\b",
    r"\bdouble[- ]?charged\b|\bovercharg\w*",
    r"\b(?:money|payment|charge|amount)s?\s+(?:returned|refunded|reversed|back|reimbursed)\b",
    r"\b(?:get|have|want|need)\s+(?:the|that|this|our|my)\s+(?:money|payment)\s+"
    r"(?:back|returned)\b",
    r"\b(?:still|wrongly|unexpectedly|mistakenly|incorrectly)\s+(?:been\s+)?(?:charged|billed)\b",
    r"\b(?:charged|billed)\b[^.?!]{0,30}\b(?:after|despite|even though|although)\b[^.?!]{0,30}"
    r"\b(?:cancel\w*|downgrad\w*|clos\w*|delet\w*)",
    r"\bdisput\w*\s+(?:an?|the|my|this|our)?\s*(?:invoices?|charges?|bills?|payments?)\b",
    # An invoice to correct is the billing team's, like a refund.
    r"\b(?:wrong|incorrect|mistaken|erroneous)\s+(?:invoices?|bills?|charges?|amounts?)\b",
    r"\b(?:fix|correct|amend|reissue|re-issue|cancel)\s+(?:the|our|my|this|that|last)?\s*"
    r"(?:invoices?|bills?)\b",
    r"\b(?:invoice|bill)\b[^.?!]{0,40}\b(?:is wrong|was wrong|incorrect|should (?:be|say)|"
    r"but we(?:'re| are| were))\b",
    r"\b(?:reembols\w*|rembours\w*|r[uü]ckerstattung|erstattung|geld zur[uü]ck|rimbors\w*|"
    r"estorno)\b",
)

_LEGAL = _rx(
    r"\b(?:legal|legally|lawyers?|attorneys?|solicitors?|lawsuits?|sue|suing|courts?|"
    r"subpoenas?|litigation|liabilit(?:y|ies)|indemnif\w*|contracts?|contractual|"
    r"terms of (?:service|use)|terms and conditions|dpas?|gdpr|ccpa|hipaa|"
    r"data processing (?:agreement|addendum)|data[- ]subject|right to be forgotten|"
    r"right of access|law enforcement|warrants?|copyright|trademarks?|dmca|regulators?)\b",
    r"\b(?:abogados?|demanda|avocats?|anwalt|klage|advogados?|avvocato|rgpd|dsgvo|"
    r"processo judicial|tribunal)\b",
)

_ABUSE = _rx(
    r"\b(?:fuck\w*|f\*+(?:k|c|ing)\w*|shit\w*|bullshit|damn\w*|crap\w*|wtf|idiots?|idiotic|stupid|"
    r"morons?|dumb|useless|incompetent|pathetic|garbage|rubbish|worst|terrible|horrible|"
    r"awful|ridiculous|unacceptable|disgrace\w*|disgusting|scam\w*|furious|angry|pissed|"
    r"outraged|livid|rip[- ]?off|fraud\w*|hate)\b",
    r"\b(?:fed up|sick (?:and tired )?of|waste of (?:my |our )?(?:time|money)|"
    r"is a joke|what a joke|third time|(?:nobody|no one) (?:has )?(?:helped|answered|replied))\b",
    r"\b(?:mierda|joder|idiota|in[uú]til|merde|putain|scheiß\w*|scheiss\w*|merda|porra|"
    r"vergonha|verg[uü]enza|estafa|arnaque|betrug)\b",
)

_HUMAN = _rx(
    r"\b(?:speak|talk|chat)\s+(?:to|with)\s+(?:a|an|the|some|your|one of your)?\s*"
    r"(?:real\s+|actual\s+|live\s+)?(?:human|person|people|someone|somebody|agent|"
    r"representative|rep|manager|supervisor|staff|operator|employee|support (?:agent|staff|team))\b",
    r"\b(?:connect|transfer|put|escalate|forward|pass|hand)\s+(?:me|this|it|my (?:case|ticket|"
    r"request))\s+(?:to|through to|over to|on to)\s+(?:a|an|the|your)?\s*(?:human|person|"
    r"someone|agent|representative|manager|supervisor|support team|team|staff)\b",
    r"\b(?:want|need|like|get me|give me|request)\s+(?:a|an|to)?\s*(?:human|real person|"
    r"live agent|representative|manager|supervisor)\b",
    r"\b(?:real|actual|live)\s+(?:human|person|agent|people)\b",
    r"\b(?:speak|talk|chat|deal|work)\s+(?:to|with)\s+(?:a|an|the|some)?\s*"
    r"(?:member of (?:staff|your (?:support )?team|the (?:support )?team)|staff member|"
    r"(?:support|customer service) (?:person|agent|rep\w*))\b",
    r"\b(?:rather than|instead of|not)\s+(?:an?\s+|the\s+|this\s+|your\s+)?(?:automated|"
    r"ai|virtual|robot(?:ic)?)\s*(?:assistant|agent|system|support|bot|chat\w*)?\b",
    r"\bhuman\b\s*(?:please|pls|now|!)",
    r"^\W*(?:human|agent|representative|operator|person)\W*(?:please|pls)?\W*$",
    r"\b(?:not|no|stop)\s+(?:talking (?:to|with)\s+)?(?:a |an |this |the )?(?:bot|robot|ai|"
    r"machine|chatbot)\b",
    r"\b(?:call me|phone me|give me a call|ring me|call me back)\b",
    r"\b(?:prefer|rather|like|want)\b[^.?!]{0,20}\b(?:one of your|a|your)\s+(?:colleagues?|"
    r"co-?workers?|staff|team ?mates?|people)\b",
    r"\b(?:one of )?your (?:colleagues?|co-?workers?|staff)\b[^.?!]{0,20}\b(?:handle|look at|"
    r"take (?:over|this|it)|deal with|call|contact|phone)\b",
    r"\b(?:hablar con|parler (?:à|a|avec)|falar com|parlare con|sprechen mit)\s+(?:un|una|une|"
    r"um|uma|einem|einer)?\s*(?:humano|persona|agente|humain|personne|conseiller|pessoa|"
    r"atendente|operatore|menschen|mitarbeiter)\b",
)

_INJECTION = _rx(
    # "ignore all previous instructions", not "can I override the automation rules".
    r"\b(?:ignore|disregard|forget|override|bypass)\s+(?:(?:all|any|every|of|the|your|my|these|"
    r"those|previous|prior|above|earlier|preceding|system|original|safety|current)\s+){0,4}"
    r"(?:instructions?|prompts?|guidelines|guardrails?|polic(?:y|ies)|rules?|context)\b",
    r"\b(?:ignore|disregard|forget)\s+(?:(?:all|everything|the|what(?:'s| is| was))\s+)*"
    r"(?:above|previous|prior|before|said before)\s*(?:[.,;:!]|$|and\b|then\b|instead\b)",
    r"\b(?:system prompt|your prompt|your instructions|initial instructions|hidden instructions|"
    r"developer message|jailbreak\w*|dan mode|developer mode|god mode)\b",
    r"\b(?:you (?:are|will) now|from now on,? you|pretend (?:to be|you are|you're)|"
    r"role-?play as|act as (?:my|a|an) (?:lawyer|developer|admin|system|unrestricted|"
    r"different|new|evil))\b",
    # Asking for the assistant's own rules, not the customer's ("print my automation rules",
    # "repeat the instructions for 2FA" are ordinary questions).
    r"\b(?:reveal|print|repeat|leak|output|show|display|dump)\b[^.?!]{0,30}\b(?:your|the "
    r"(?:system|hidden|initial|original|above|previous)|(?:hidden|initial|original|secret|"
    r"internal))\s+(?:\w+\s+)?(?:prompt|instructions|rules|configuration|guidelines)\b",
    # The assistant's own secrets; a customer's own API key or token is a normal question.
    r"\b(?:openai(?:'s)?|the system's|the assistant's) (?:api )?(?:keys?|secrets?|credentials)\b",
    r"\b(?:reveal|leak|share|give me|tell me|print|show me|send me)\s+your\s+(?:own\s+|secret\s+|"
    r"openai\s+)?(?:api\s+)?(?:keys?|secrets?|credentials|passwords?)\b",
    r"\byour (?:own |secret |internal )(?:api )?(?:keys?|secrets?|credentials)\b",
    r"\b(?:instructions|rules|prompt) you (?:were|have been|got) given\b",
    r"\b(?:repeat|print|show|output|reveal)\b[^.?!]{0,20}\b(?:everything|the text|all the text|"
    r"the words|the message) (?:above|before this)\b",
    r"(?:^|\n)\s*(?:system|assistant|developer)\s*:",
    r"<\s*/?\s*(?:system|assistant|instructions?)\s*>|\[(?:system|inst)\]|###\s*(?:system|instruction)",
)

# "Leaving the cost aside, ..." mentions a price only to set it aside: not a pricing question.
_PRICE_SET_ASIDE = _rx(
    r"\b(?:leaving|setting|putting|keeping) (?:the |any )?(?:cost|costs|price|prices|pricing|"
    r"budget)(?: question| side| part)? (?:aside|apart|to one side)\b",
    r"\b(?:cost|costs|price|prices|pricing|budget) aside\b",
    r"\b(?:not|isn't|is not|no) (?:asking )?(?:about )?(?:the )?(?:cost|costs|price|prices|"
    r"pricing)\b",
    r"\b(?:regardless of|ignoring|apart from) (?:the )?(?:cost|costs|price|prices|pricing)\b",
)

# Known acronyms are not shouting.
_ACRONYMS = frozenset(
    "API HTTP HTTPS SSO SAML SCIM CSV JSON PDF VAT GDPR DPA UTC TOTP AWS SLA SOC ISO PR URL "
    "SDK IOS FAQ CEO CTO EU US UK TLS AES HMAC MB GB NDA DPO".split()
)


def _shouting(text: str) -> bool:
    caps = [w for w in re.findall(r"\b[A-Z]{4,}\b", text) if w not in _ACRONYMS]
    return len(caps) >= 3 or ("!!!" in text and len(caps) >= 1)


@dataclass(frozen=True)
class Concern:
    """One reason a message must go to people, with what matched (for the escalation note)."""

    guardrail: str
    reason: int
    evidence: str


# The order decides the one reason reported when several apply: how the customer feels and
# whether they asked for a person come first (they want a human either way), then the team
# that owns the topic.
PRIORITY = ("anger", "human_request", "legal", "refund", "pricing", "prompt_injection", "language")


_SUBJECT_LINE = re.compile(r"^\s*subject:[^\n]*\n", re.IGNORECASE)


def _match(pattern: re.Pattern[str], text: str) -> str | None:
    m = pattern.search(text)
    return m.group(0).strip() if m else None


# A pattern hit of one word is overruled only when the classifier is this sure the message is
# an ordinary question (or a greeting) and gives the pattern's reason less than OVERRULE_BELOW.
OVERRULE_ORDINARY = 0.6
OVERRULE_BELOW = 0.2
# The classifier raises a concern on its own from this probability up, even where the
# calibrated threshold is lower: under it, on the development sets, its lone calls were
# mostly ordinary questions ("can we be billed yearly?"), and the patterns already catch the
# explicit wordings there. With the classifier reading the cleaned question, no development
# ticket fares worse than it did on the raw message at 0.55 anywhere from 0.6 to 0.7, and two
# ordinary questions are no longer handed over (at 0.57 a follow-up about invoices reads as a
# refund; at 0.8 a refund and a request for a person go unseen): 0.65 is the middle.
CLASSIFIER_ALONE = 0.65
# VADER's compound score at or under which a message reads as strongly negative; with the
# classifier seeing at least ANGER_WITH_SENTIMENT of anger in it, that is anger.
NEGATIVE_SENTIMENT = -0.6
ANGER_WITH_SENTIMENT = 0.3
# The classifier alone calls anger only with some negative sentiment behind it (or when it is
# this sure): a calm "my automations stopped running, why?" reads like a complaint to it.
ANGER_ALONE = 0.7

_vader = SentimentIntensityAnalyzer()


def sentiment(text: str) -> float:
    """VADER's compound score, -1 (most negative) to 1."""
    return float(_vader.polarity_scores(text)["compound"])


def assess_input(message: str, multilingual: bool, intent: Intent | None = None) -> list[Concern]:
    """Every concern the message raises, highest priority first. `intent` is the classifier's
    view of the message (None: patterns and sentiment only)."""
    text = " ".join(message.split())
    # The body alone too: "Representative." is a whole message only without its subject line.
    body = " ".join(_SUBJECT_LINE.sub("", message, count=1).split())
    found: list[Concern] = []
    checks = (
        ("anger", ANGER, _ABUSE),
        ("human_request", HUMAN_REQUEST, _HUMAN),
        ("legal", LEGAL, _LEGAL),
        ("refund", REFUND, _REFUND),
        ("pricing", PRICING, _PRICING),
        ("prompt_injection", OTHER, _INJECTION),
    )
    mood = sentiment(text) if text else 0.0
    for name, reason, pattern in checks:
        seen, seen_body = ((_PRICE_SET_ASIDE.sub(" ", text), _PRICE_SET_ASIDE.sub(" ", body))
                           if name == "pricing" else (text, body))
        evidence = _match(pattern, seen) or (_match(pattern, seen_body) if body != text else None)
        if name == "anger" and evidence is None and _shouting(message):
            evidence = "shouting (capital letters)"
        if intent is not None and name in intent.probabilities:
            p = intent.probabilities[name]
            if (evidence and " " not in evidence and intent.ordinary >= OVERRULE_ORDINARY
                    and p < OVERRULE_BELOW):
                evidence = None  # one ambiguous word in what is surely an ordinary question
            elif not evidence and intent.says(name) and p >= CLASSIFIER_ALONE and (
                    name != "anger" or mood < 0 or p >= ANGER_ALONE) and not (
                    name == "pricing" and seen != text):  # the price was set aside
                evidence = f"classifier: {name} p={p:.2f}"
            elif (not evidence and name == "anger" and mood <= NEGATIVE_SENTIMENT
                  and p >= ANGER_WITH_SENTIMENT):
                evidence = f"negative sentiment {mood:.2f}, classifier: anger p={p:.2f}"
        if evidence:
            found.append(Concern(name, reason, evidence))
    if any(c.guardrail == "prompt_injection" for c in found):
        # The classifier never learnt injections: what it reads into one is not the reason.
        found = [c for c in found if not c.evidence.startswith("classifier:")]
    lang = language.detect(text)
    if not lang.is_english and not multilingual:
        found.append(Concern("language", OTHER, f"message in {lang.name} ({lang.code})"))
    return sorted(found, key=lambda c: PRIORITY.index(c.guardrail))


# --- output -----------------------------------------------------------------------------

_PRICE_OUT = _rx(
    r"[$€£]\s?\d",
    r"\b\d[\d,.]*\s?(?:usd|eur|gbp|dollars?|euros?|pounds)\b",
    r"\bper (?:user|seat|member)\s*(?:per|/|a|an)\s*(?:month|year)\b",
    r"\b\d+\s?% (?:off|discount)\b",
    r"\bcosts? (?:only |just )?(?:about |around )?\d",
    r"\b(?:cheaper|more expensive|less expensive) than\b",
)

_PROMISE_OUT = _rx(
    r"\b(?:i|we) (?:promise|guarantee)\b|\bguaranteed?\b",
    r"\bcoming soon\b|\bon (?:our|the) roadmap\b|\bin (?:the|an?) (?:next|upcoming|future) "
    r"(?:release|version|update)\b",
    r"\b(?:will|'ll) be (?:available|released|added|launched|supported|fixed|shipped) "
    r"(?:soon|next|later|by|in)\b",
    r"\b(?:we|i)(?: will|'ll) (?:add|build|release|launch|ship|refund|credit|waive|reimburse|"
    r"give you|issue you|extend your)\b",
    r"\b(?:refund|credit|reimbursement|charge reversal)s? (?:has|have|was|were|is) (?:been )?"
    r"(?:issued|processed|approved|granted|applied)\b",
    r"\bi(?:'ve| have) (?:issued|processed|approved|refunded|credited|waived)\b",
    r"\byou(?: will|'ll) (?:receive|get) (?:a |an |your )?(?:full |partial )?(?:refund|credit)\b",
)

# Words from the instructions that never appear in a real answer: seeing them in a reply
# means the model was talked into reciting its instructions.
INSTRUCTIONS_CANARY = "FB-ASSIST-RULES"


@dataclass(frozen=True)
class Violation:
    guardrail: str
    reason: int
    evidence: str


def assess_output(text: str, channel: int, customer_name: str = "", subject: str = "") -> list[Violation]:
    found: list[Violation] = []
    if (m := _match(_PRICE_OUT, text)) is not None:
        found.append(Violation("output_price", PRICING, m))
    if (m := _match(_PROMISE_OUT, text)) is not None:
        found.append(Violation("output_promise", OTHER, m))
    if INSTRUCTIONS_CANARY.lower() in text.lower():
        found.append(Violation("output_instructions_leak", OTHER, "instructions recited"))
    problems = formatting.check_limits(
        channel, formatting.format_reply(channel, text, customer_name, subject)
    )
    if problems:
        found.append(Violation("output_channel_limits", OTHER, "; ".join(problems)))
    return found


# --- the SDK guardrails -------------------------------------------------------------------


def _message_of(agent_input) -> str:
    if isinstance(agent_input, str):
        return agent_input
    texts = []
    for item in agent_input:
        if isinstance(item, dict) and item.get("role") == "user":
            content = item.get("content")
            if isinstance(content, str):
                texts.append(content)
            elif isinstance(content, list):
                texts.extend(p.get("text", "") for p in content if isinstance(p, dict))
    return "\n".join(texts)


async def _concerns(ctx: RunContextWrapper, agent_input) -> list[Concern]:
    # Computed once per turn and kept on the turn context, so every guardrail (and the
    # escalation that follows a trip) sees the same assessment.
    # The guardrails may run side by side: the first starts the assessment, all await it.
    turn = ctx.context

    async def assess() -> list[Concern]:
        message = _message_of(agent_input)
        # Account linking ("this is me, ada@example.com", a one-time code) is judged by the
        # patterns alone: the classifier never learnt it and reads "me" as "a person please".
        body = _SUBJECT_LINE.sub("", message, count=1)
        linking_message = linking.link_request(body) is not None or turn.link_code is not None
        if turn.intents is not None and message.strip() and not linking_message:
            # The question as the knowledge search reads it (no greeting, sign-off or
            # "Subject:" label): the classifier learnt mostly from such texts, and the search's
            # embedding of it is then the one already made here (RecentVectors).
            turn.intent = await turn.intents.classify(clean_question(message))
        turn.input_concerns = assess_input(message, turn.multilingual, turn.intent)
        return turn.input_concerns

    if turn.assessing is None:
        turn.assessing = asyncio.ensure_future(assess())
    return await turn.assessing


def _input_guardrail(name: str):
    @input_guardrail(name=name, run_in_parallel=False)
    async def check(ctx: RunContextWrapper, agent, agent_input) -> GuardrailFunctionOutput:
        hits = [c for c in await _concerns(ctx, agent_input) if c.guardrail == name]
        return GuardrailFunctionOutput(
            output_info={"evidence": hits[0].evidence} if hits else None,
            tripwire_triggered=bool(hits),
        )

    return check


INPUT_GUARDRAILS = [_input_guardrail(name) for name in PRIORITY]


@output_guardrail(name="reply_policy")
async def reply_policy(ctx: RunContextWrapper, agent, output) -> GuardrailFunctionOutput:
    turn = ctx.context
    text = output if isinstance(output, str) else str(output)
    violations = assess_output(text, turn.request.channel, turn.request.customer_name,
                               turn.request.subject)
    turn.output_violations = violations
    return GuardrailFunctionOutput(
        output_info=[v.guardrail for v in violations] or None,
        tripwire_triggered=bool(violations),
    )


def names(items: Iterable[Concern | Violation]) -> list[str]:
    return list(dict.fromkeys(i.guardrail for i in items))
