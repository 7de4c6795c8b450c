"""The reflection prompts, as sent, are byte for byte the authors' (tianyi-lab/Reflection_Tuning).

The expected strings are the authors' own, copied from `reflection_code/reflect_instruction.py`
(`gen_prompt_no_input`) and `reflection_code/reflect_response.py` (`gen_prompt_no_input`,
`gen_prompt_input`), with their variables filled in by hand: no code of ours builds them.
"""

from recycle import columns as C
from recycle.config.teacher import TeacherConfig
from recycle.teacher.tasks import InstructionTask, ResponseTask

INSTRUCTION_SYSTEM = "You are a helpful, precise but picky assistant for checking the quality of a given instruction."
INSTRUCTION_CRITERIA = (
    "We would like you to answer several questions related to the quality of a given instruction. \n"
    "1. Why this instruction is not good? First analyse the instruction based on Complexity of the Topic, Level of Detail Required, Knowledge Required, Ambiguity of the Instruction and Logical Reasoning or Problem-Solving Involved. \n"
    "Then analyse why this answer is not good for the given instruction? Analyse based on the Helpfulness, Relevance, Accuracy and Level of Details. \n"
    "Finally analyse why this bad instruction lead to a bad answer. "
    "2. Based on the reason you provided, generate a new and complete instruction which is complex and difficult to answer directly. "
    "Make sure the new instruction is relevent but independent to the original instruction, which can be answered without knowing the original instruction, put the new instruction in the format of [New Instruction] your instruction [End]"
    "3. Answer the newly generated instruction as detailed as possible, in the format of [New Answer] your answer [End] \n"
)
RESPONSE_SYSTEM = "You are a helpful, precise but picky assistant for checking the quality of the answer to a given instruction."
RESPONSE_CRITERIA = (
    "We would like you to answer several questions related to the quality of the answer to the given instruction. \n"
    "1. Why this answer is not good for the given instruction? Analyse based on the Helpfulness, Relevance, Accuracy and Level of Details. \n"
    "2. Based on the reason you provided, generate a better answer, new and complete, as detailed as possible, in the format of [Better Answer] your answer [End] \n"
)
RESPONSE_INPUT_SYSTEM = "You are a helpful and precise assistant for checking the quality of the answer to a given instruction and its input."
RESPONSE_INPUT_CRITERIA = (
    "We would like you to answer several questions related to the quality of the answer to the given instruction and corresponding input. \n"
    "1. Why this answer is not good for the given instruction and corresponding input? Analyse based on the Helpfulness, Relevance, Accuracy and Level of Details. \n"
    "2. Based on the reason you provided, generate a better answer, new and complete, as detailed as possible, in the format of [Better Answer] your answer [End] \n"
)
NO_INPUT = "[Instruction]\n{ins}\n\n[The Start of Answer]\n{outp}\n\n[The End of Answer]\n\n[System]\n{criteria}\n\n"
WITH_INPUT = "[Instruction]\n{ins}\n\n[The Start of Input]\n{inp}\n\n[The End of Input]\n\n[The Start of Answer]\n{outp}\n\n[The End of Answer]\n\n[System]\n{criteria}\n\n"

PLAIN = {
    C.INSTRUCTION: "Give three tips for staying healthy.",
    C.INPUT: "",
    C.OUTPUT: "1. Eat well.\n2. Sleep.\n3. Move.",
}
WITH = {C.INSTRUCTION: "Sort the numbers.", C.INPUT: "3, 1, 2", C.OUTPUT: "1, 2, 3"}  # fmt: skip


def sent(task, row):
    messages = task.request(row, TeacherConfig()).prompt.messages
    return [(m["role"], m["content"]) for m in messages]


def test_instruction_reflection_without_input_is_the_authors():
    user = NO_INPUT.format(
        ins=PLAIN[C.INSTRUCTION], outp=PLAIN[C.OUTPUT], criteria=INSTRUCTION_CRITERIA
    )
    assert user.endswith(
        "[End] \n\n\n"
    )  # the authors' criteria end with " \n", the template adds two
    assert sent(InstructionTask(), PLAIN) == [("system", INSTRUCTION_SYSTEM), ("user", user)]


def test_instruction_reflection_with_input_folds_the_input_into_the_instruction():
    # The authors' template, byte for byte. Their script passes the instruction alone (the input is
    # dropped); recycle passes x = instruction + "\n" + input, so the teacher sees the whole task.
    x = f"{WITH[C.INSTRUCTION]}\n{WITH[C.INPUT]}"
    user = NO_INPUT.format(ins=x, outp=WITH[C.OUTPUT], criteria=INSTRUCTION_CRITERIA)
    assert sent(InstructionTask(), WITH) == [("system", INSTRUCTION_SYSTEM), ("user", user)]


def test_response_reflection_without_input_is_the_authors():
    user = NO_INPUT.format(
        ins=PLAIN[C.INSTRUCTION], outp=PLAIN[C.OUTPUT], criteria=RESPONSE_CRITERIA
    )
    assert sent(ResponseTask(), PLAIN) == [("system", RESPONSE_SYSTEM), ("user", user)]


def test_response_reflection_with_input_is_the_authors():
    user = WITH_INPUT.format(
        ins=WITH[C.INSTRUCTION],
        inp=WITH[C.INPUT],
        outp=WITH[C.OUTPUT],
        criteria=RESPONSE_INPUT_CRITERIA,
    )
    assert sent(ResponseTask(), WITH) == [("system", RESPONSE_INPUT_SYSTEM), ("user", user)]
