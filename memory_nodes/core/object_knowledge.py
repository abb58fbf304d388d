"""What common household objects are and what they are for: the common sense an open-vocabulary
question leans on.

A planner asks for "something to eat" or "something to change the TV channel"; a detector says
"banana" and "remote control". Sentence embeddings of the bare labels rank "spoon" first for the
first question (eating, as words) and "television" for the second. Like ConceptNet's IsA and
UsedFor edges, each entry here says what a kind of object is and what people use it for; the
label's similarity to a question is the best of the label's own and of these sentences'
(``descriptions``). Labels not listed keep their own embedding only.

The table covers the object classes of the common detection vocabularies (COCO, and the household
part of LVIS and Objects365), not any scenario's questions.
"""

from __future__ import annotations

# label -> (what it is, what it is for, ...): short phrases, each read as "<label>: <phrase>".
# What it is comes with its broad kind too ("food", "a toy") when the narrow one hides it: "something
# to eat" is nearer "orange: food" than "orange: an edible citrus fruit" (0.53 and 0.40), and a
# household's dining table, which no sentence describes, is at 0.48.
OBJECT_KNOWLEDGE: dict[str, tuple[str, ...]] = {
    # food
    "apple": ("an edible fruit", "food", "eaten as a snack"),
    "banana": ("an edible fruit", "food", "eaten as a sweet snack"),
    "orange": ("an edible citrus fruit", "food", "peeled and eaten or squeezed for juice"),
    "pear": ("an edible fruit", "food", "eaten as a juicy snack"),
    "lemon": ("a fruit", "used for cooking and drinks"),
    "sandwich": ("food", "a meal to eat"),
    "pizza": ("food", "a meal to eat"),
    "cake": ("food", "a sweet dessert to eat"),
    "donut": ("food", "a sweet snack to eat"),
    "bread": ("food", "eaten at breakfast"),
    "carrot": ("a vegetable", "food", "eaten raw or cooked"),
    "broccoli": ("a green vegetable", "food", "cooked for dinner"),
    "cereal box": ("packaged food", "breakfast with milk"),
    # drink and tableware
    "mug": ("a drinking vessel with a handle", "holds hot coffee or tea"),
    "cup": ("a small drinking vessel", "holds a drink"),
    "glass": ("a drinking vessel", "used to drink water"),
    "wine glass": ("a drinking vessel", "used to drink wine"),
    "bottle": ("a container for liquids", "used to drink from or pour"),
    "can": ("a drink container", "a soda to drink"),
    "kettle": ("a kitchen appliance", "used to boil water"),
    "teapot": ("kitchenware", "used to make and pour tea"),
    "bowl": ("tableware", "holds soup or cereal"),
    "plate": ("flat dinnerware", "set on the dining table"),
    "fork": ("cutlery", "used to eat food"),
    "knife": ("cutlery", "used to cut food"),
    "spoon": ("cutlery", "used to stir or eat soup"),
    "pan": ("cookware", "used to fry food"),
    "pot": ("cookware", "used to cook soup"),
    "cutting board": ("kitchenware", "food is cut on it"),
    # electronics
    "remote control": ("a handheld controller", "changes channels and volume on a TV"),
    "remote": ("a handheld controller", "changes channels and volume on a TV"),
    "television": ("an electronic screen", "used to watch shows"),
    "tv": ("an electronic screen", "used to watch shows"),
    "laptop": ("a computer", "used to work, browse and write"),
    "keyboard": ("a computer input device", "used to type"),
    "mouse": ("a computer input device", "used to point and click"),
    "phone": ("a mobile phone", "used to call and message people"),
    "cell phone": ("a mobile phone", "used to call and message people"),
    "tablet": ("a touchscreen computer", "used to read and browse"),
    "headphones": ("an audio device", "used to listen to music"),
    "speaker": ("an audio device", "plays music aloud"),
    "charger": ("an electrical accessory", "used to charge a phone"),
    "clock": ("a timepiece", "tells the time"),
    "alarm clock": ("a timepiece", "wakes you up"),
    "microwave": ("a kitchen appliance", "used to heat food"),
    "toaster": ("a kitchen appliance", "used to toast bread"),
    # light and decoration
    "lamp": ("a light fixture", "lights up a room"),
    "candle": ("wax with a wick", "burns to give light and scent"),
    "flashlight": ("a portable light", "lights the way in the dark"),
    "vase": ("a decorative container", "holds cut flowers in water"),
    "plant": ("a potted plant", "a living decoration that needs watering"),
    "potted plant": ("a plant in a pot", "a living decoration that needs watering"),
    "picture frame": ("a decoration", "displays a photo"),
    "mirror": ("a reflective surface", "used to look at yourself"),
    # reading, writing, work
    "book": ("bound printed pages", "read for information or pleasure"),
    "magazine": ("a glossy periodical", "read for news and pictures"),
    "newspaper": ("printed news", "read in the morning"),
    "notebook": ("paper for notes", "used to write in"),
    "pen": ("a writing tool", "used to write"),
    "pencil": ("a writing tool", "used to write and draw"),
    "scissors": ("a cutting tool", "used to cut paper"),
    "glasses case": ("a small case", "stores glasses"),
    "glasses": ("eyewear", "used to see clearly"),
    "backpack": ("a bag", "used to carry things"),
    "handbag": ("a bag", "used to carry personal things"),
    "suitcase": ("luggage", "used to pack clothes for travel"),
    "box": ("a container", "used to store or carry things"),
    "basket": ("a container", "used to carry or store things"),
    "umbrella": ("rain gear", "keeps you dry in the rain"),
    "key": ("a small metal tool", "used to open a door or lock"),
    "wallet": ("a small case", "holds money and cards"),
    # toys and leisure
    "teddy bear": ("a stuffed toy", "children play and cuddle with it"),
    "rubber duck": ("a bath toy", "a toy", "floats in the bath for children"),
    "ball": ("a round plaything", "thrown, kicked or bounced in games"),
    "doll": ("a toy figure", "children play with it"),
    "toy car": ("a small toy vehicle", "children play with it"),
    "kite": ("a toy", "flown in the wind"),
    "frisbee": ("a flying disc", "thrown in a game"),
    "skateboard": ("sports equipment", "ridden for fun"),
    "tennis racket": ("sports equipment", "used to play tennis"),
    "guitar": ("a musical instrument", "used to play music"),
    # bathroom and cleaning
    "toothbrush": ("a hygiene item", "used to brush teeth"),
    "towel": ("a cloth", "used to dry yourself"),
    "soap": ("a hygiene item", "used to wash hands"),
    "hair drier": ("an appliance", "used to dry hair"),
    "sponge": ("a cleaning item", "used to wash dishes"),
    "broom": ("a cleaning tool", "used to sweep the floor"),
    "bucket": ("a container", "used to carry water"),
    "trash can": ("a bin", "holds rubbish"),
    # furniture and fixtures
    "chair": ("furniture", "a seat for one person"),
    "sofa": ("upholstered furniture", "seats several people"),
    "couch": ("upholstered furniture", "seats several people"),
    "bed": ("furniture", "people sleep in it"),
    "table": ("furniture", "a surface to put things on"),
    "desk": ("furniture", "a surface to work at"),
    "shelf": ("furniture", "holds books and things"),
    "cabinet": ("furniture", "stores things behind doors"),
    "drawer": ("part of furniture", "stores small things"),
    "pillow": ("bedding", "rests your head when sleeping"),
    "blanket": ("bedding", "keeps you warm"),
    "refrigerator": ("a kitchen appliance", "keeps food cold"),
    "oven": ("a kitchen appliance", "used to bake food"),
    "sink": ("a fixture", "used to wash dishes and hands"),
    "toilet": ("a bathroom fixture", "used to relieve yourself"),
}


def descriptions(label: str) -> tuple[str, ...]:
    """The sentences that describe ``label`` ("banana: a fruit", "banana: food to eat"); none for a
    label the table does not know."""
    return tuple(f"{label}: {phrase}" for phrase in OBJECT_KNOWLEDGE.get(label.strip().lower(), ()))
