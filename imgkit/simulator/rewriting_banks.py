"""The word banks of the simulated DALL-E 3 rewrite (:mod:`imgkit.simulator.rewriting`).

A recorded rewrite invents details that fit its prompt: the lion that cooks pasta is put in a
kitchen with a stove and a wooden spoon, the axolotl's gills and the stones it rests on are
described. So the banks here are sorted by what they fit: the kind of subject a prompt names
(an animal, a person, a dish, a building ...), the kind of setting it names (rock, snow, water,
a street ...), the family of its light (warm, dusk, night ...), of its mood (calm, cheerful,
dark, grand) and of its medium (a photograph, a painting, a render). The rewriter reads which
of each the prompt names and draws its inventions from the matching bank only, so an invented
detail never puts a Martian cliff on a coastline, a quiet scene in a hopeful mood, or a
photograph in a render's style. Placeholders: ``{noun}`` the subject's noun, ``{its}`` its or
their, ``{place}`` the setting's noun, ``{a}`` the article the next word takes.

Long because it is data, not code: one word list per kind of subject, setting, light, mood and
medium, and a rewrite needs enough of each for five calls to differ.
"""

from __future__ import annotations


def words_of(text: str) -> frozenset[str]:
    """The set of the space-separated words of ``text`` (long word lists read better so)."""
    return frozenset(text.split())


#: Words that describe how a picture looks (light, colour, mood, medium, framing), which the
#: photograph choice does not take for a subject (:func:`imgkit.simulator.photos.content_words`).
#: The set is the vocabulary of the rewriter's banks as they stood before the rewrite followed
#: its prompt (issue 24), kept as it was so that no prompt's photograph changes with the banks.
LOOK_WORDS = words_of(
    "a across adds adorable afternoon against aged air all amber ambience ambling an ancient "
    "and angle any appear appears architectural are art as astride at atmosphere attention "
    "audiences azure backdrop background backlight balanced bathed beautifully behind blurred "
    "bold brand-new brightly burgundy bustling by calm camera camerawork cap captured care "
    "carrying catching caught center character charcoal charm charming checkered cheerful "
    "chosen cinematic clean clear clutching coastline cobalt color colors comes composition "
    "conceived concept contemplative cool copper counter countryside cozy cream crimson crisp "
    "curious dashing daylight delicate delighted depicted depiction depth detail detailed "
    "devouring diffused digital dignified dignity discovered documentary donning dotted dozing "
    "dramatic draws dressed drifting dust ebony edges effect elegant emerald endearing "
    "energetic entirely every everyday eye faded falls feasting feature feels field fill "
    "film-like fine finely focal for form found frame framing fresh frolicking from full "
    "full-grown gazing generic generous gentle giving glade gleaming gliding glossy glow goes "
    "golden golden-hour gorgeous graceful grand great gripping hall has headpiece here "
    "herringbone hidden home hopeful huge hushed hyper-detailed identifiable if image imposing "
    "in inky interest interior inviting is isolated isolation it its ivory jet-black joyful "
    "keeps large late leafy leans leaving lemon-colored lends life lighthearted lighting like "
    "lines linger lit little lively logos loneliness looking looks loved lovely low made "
    "majestic making marbled massive matte mid-moment mind misty models modest morning motes "
    "mounted movie-style mustard muted mysterious napping natural navy nearby neatly negative "
    "nibbling nightfall no nostalgic not nothing oak objects of off olive on open or out "
    "out-of-focus outline over overall overcast oversized painting pale patches pattern "
    "peaceful peering people perched petite photograph picking picture places plain playful "
    "plum point poised polished polka-dot poring portrayed preparing presence presented prompt "
    "proud quality quiet quietly racing reads realism realistic reflections remarkable render "
    "rendered rendering respectful rest resting rich rim room rough-hewn rumpled rust-colored "
    "rustic sage sapphire saturated scale scarlet scattered scene scuffed seated seen sense "
    "serene setting shade shadows shallow shapes shown silver simple single sizeable slightly "
    "slumbering small snowdrifts snowfall snowy soaring soft softened softly solitary space "
    "special speckled spirited sporting sprinting stands stationed stirring street stretches "
    "striking striped strolling studio studying stunning style stylistically subtle suggest "
    "suitable sun-bleached sunlit surface surroundings tabletop takes teal terracotta text "
    "texture textures that the there this though throughout timber timeworn tinted tiny to tone "
    "touch touches toying trademarks tranquil true twilight understated unique up upright "
    "valley velvety verdant vibrant view viewer vivid wandering warm warmth wear weathered well "
    "where which whimsical with wood worn woven yet"
)


# -- what a prompt names ------------------------------------------------------------------------

#: Subject kinds, by the noun that ends the prompt's subject phrase.
KINDS: dict[str, frozenset[str]] = {
    "astronaut": words_of("astronaut astronauts cosmonaut cosmonauts spaceman spacewalker"),
    "mammal": words_of(
        "fox lion cat dog raccoon wolf bear tiger rabbit deer horse monkey kitten puppy squirrel "
        "elephant leopard cheetah otter hedgehog mouse badger goat sheep cow pig panda koala "
        "giraffe zebra lioness cub foxes cats dogs"
    ),
    "bird": words_of(
        "owl bird eagle parrot crow raven robin sparrow hawk heron swan duck penguin "
        "hummingbird flamingo birds owls"
    ),
    "water": words_of("fish axolotl whale dolphin turtle octopus jellyfish koi shark seal frog"),
    "person": words_of(
        "man woman girl boy child person knight chef sailor farmer musician king queen wizard "
        "witch dancer soldier pirate robot explorer traveler monk detective people fisherman "
        "baker scientist doctor nurse teacher student artist painter singer guitarist worker "
        "grandmother grandfather mother father baby kid warrior samurai ninja princess prince "
        "elf cowboy firefighter"
    ),
    "food": words_of(
        "ramen soup pasta pizza cake coffee tea salad sushi burger bread croissant pie cupcake "
        "dumplings noodles breakfast sandwich bowl plate cup"
    ),
    "building": words_of(
        "lighthouse castle pagoda house cottage tower bridge church temple cabin windmill barn "
        "cathedral skyscraper palace"
    ),
    "plant": words_of("dahlia flower rose tree sunflower tulip cactus orchid lily bonsai flowers"),
    "street": words_of("street city town alley market square harbor village skyline road"),
    "landscape": words_of(
        "mountain mountains forest beach lake valley desert canyon waterfall river field meadow "
        "island landscape"
    ),
}
#: Human activities: an animal doing one is the recorded rewrite's "humorous juxtaposition".
HUMAN_ACTIONS = words_of(
    "cooking wearing reading driving painting drinking typing knitting baking writing"
)
#: Settings, by the kind of place a prompt's noun names (the subject's own noun excluded).
SETTINGS: dict[str, frozenset[str]] = {
    "rock": words_of(
        "cliff cliffs canyon crater ridge desert hill hills rocks boulder mesa mountain "
        "mountaintop plateau dune dunes"
    ),
    "snow": words_of("snow snowfield ice glacier tundra snowdrift blizzard"),
    "water": words_of("sea ocean beach shore coast harbor lake river pond waves bay"),
    "urban": words_of("street city town alley market square road rooftop rooftops sidewalk"),
    "green": words_of("garden meadow park field forest woods grass leaves jungle orchard"),
    "interior": words_of(
        "kitchen room table windowsill desk counter shelf studio library cafe bedroom"
    ),
    "sky": words_of("sky clouds cloud"),
}
SPACE_WORDS = words_of("martian mars moon lunar alien planet space")
#: Light, by family (the drawing reads some of these words: golden warms, night darkens).
LIGHT_WORDS: dict[str, frozenset[str]] = {
    "warm": words_of("golden sunset sunrise dawn afternoon sunlight sunny sunlit"),
    "dusk": words_of("dusk twilight evening nightfall"),
    "night": words_of("night midnight moonlight moonlit neon starlight starry"),
    "soft": words_of("overcast foggy misty cloudy diffused morning"),
}
LIGHTING_NOUNS = words_of(
    "light lighting backlighting backlit lit glow shadows sunlight moonlight hour rim "
    "candlelight lamplight"
)
MOOD_WORDS: dict[str, frozenset[str]] = {
    "calm": words_of(
        "quiet solitude lone lonely serene calm peaceful tranquil still silent solitary hushed "
        "melancholy contemplative isolation stillness"
    ),
    "cheerful": words_of(
        "happy cheerful joyful playful fun festive whimsical lively funny cute colorful "
        "colourful delightful"
    ),
    "dark": words_of(
        "eerie dark ominous spooky haunted mysterious gloomy creepy moody noir stormy sinister"
    ),
    "grand": words_of("epic dramatic heroic majestic grand powerful monumental"),
}
MOOD_NOUNS = words_of("atmosphere mood feeling sense air ambience vibe")
MEDIUM_WORDS: dict[str, frozenset[str]] = {
    "photo": words_of(
        "photo photograph photography photographic photorealistic photo-realistic dslr 35mm "
        "polaroid snapshot"
    ),
    "painting": words_of(
        "painting watercolor watercolour oil acrylic gouache impressionist impressionism "
        "canvas fresco"
    ),
    "drawing": words_of(
        "illustration drawing sketch cartoon anime comic ink pencil linocut woodcut"
    ),
    "render": words_of("render 3d cgi octane unreal blender isometric voxel low-poly"),
}
#: Medium words that are mass nouns ("the look of watercolor", not "of a watercolor").
MASS_MEDIA = words_of(
    "photography watercolor watercolour oil acrylic gouache ink pencil impressionism cgi"
)
COMPOSITION_WORDS = words_of(
    "shot angle close-up closeup view framing composition portrait macro aerial panoramic "
    "panorama lens bokeh perspective wide establishing overhead top-down"
)
COLOR_WORDS = words_of(
    "red orange yellow green blue purple violet pink brown black white grey gray golden silver "
    "russet crimson scarlet"
)

#: Synonyms a rewrite may put in place of the prompt's words, each of the same part of speech
#: and number as the word it replaces (a participle for a participle, a mass noun for a mass
#: noun): "backlighting" becomes "rim lighting", never "backlight". The prompt's medium words,
#: its setting's noun and its subject's noun are never swapped.
SYNONYMS = {
    # participles (after the subject: "a lion cooking pasta")
    "cooking": ("preparing", "making", "stirring up"),
    "wearing": ("sporting", "donning", "dressed in"),
    "holding": ("clutching", "gripping", "carrying"),
    "riding": ("mounted on", "seated on"),
    "sitting": ("resting", "perched", "seated"),
    "standing": ("poised", "stationed", "waiting"),
    "running": ("racing", "dashing", "sprinting"),
    "walking": ("strolling", "wandering", "ambling"),
    "playing": ("frolicking", "romping"),
    "eating": ("devouring", "nibbling", "feasting on"),
    "reading": ("studying", "poring over"),
    "flying": ("soaring", "gliding"),
    "sleeping": ("dozing", "napping", "slumbering"),
    "looking": ("gazing", "peering"),
    # adjectives
    "small": ("tiny", "little", "petite"),
    "little": ("tiny", "small", "petite"),
    "big": ("huge", "large", "massive"),
    "large": ("huge", "sizeable", "massive"),
    "old": ("ancient", "weathered", "aged"),
    "new": ("fresh", "brand-new", "gleaming"),
    "lone": ("solitary", "single"),
    "red": ("russet", "rust-colored", "ruddy"),
    "blue": ("azure", "cobalt", "sapphire"),
    "green": ("emerald", "verdant"),
    "yellow": ("golden", "amber"),
    "white": ("ivory", "snowy", "pale"),
    "black": ("jet-black", "inky", "ebony"),
    "wooden": ("timber", "oak"),
    "cute": ("adorable", "charming", "endearing"),
    "beautiful": ("stunning", "lovely", "gorgeous"),
    "happy": ("joyful", "cheerful", "delighted"),
    "quiet": ("hushed", "tranquil"),
    "cinematic": ("film-like", "movie-style"),
    "city": ("urban", "town"),
    "orange": ("tangerine", "apricot"),
    "summer": ("summertime", "midsummer"),
    "calm": ("still", "tranquil", "placid"),
    "misty": ("foggy", "hazy"),
    "leaning": ("propped", "resting"),
    "horse": ("steed",),
    "lights": ("signs", "lamps"),
    "rain": ("drizzle", "downpour"),
    "dramatic": ("striking", "theatrical"),
    # singular count nouns, and mass nouns for mass nouns
    "backlighting": ("rim lighting",),
    "atmosphere": ("air", "mood"),
    "solitude": ("stillness", "isolation"),
    "shot": ("view",),
    "hat": ("cap", "headpiece"),
    "bowl": ("dish",),
    "dusk": ("twilight", "nightfall"),
}

# -- what the rewrite invents, by what it fits ---------------------------------------------------

#: Adjectives for a subject the prompt names bare ("a lion" becomes "a full-grown lion").
SUBJECT_ADJECTIVES: dict[str, tuple[str, ...]] = {
    "astronaut": ("suited", "helmeted"),
    "mammal": ("full-grown", "sleek", "alert", "handsome", "sturdy"),
    "bird": ("small", "alert", "sleek", "watchful"),
    "water": ("sleek", "graceful", "small"),
    "person": ("young", "solitary", "thoughtful"),
    "food": ("steaming", "generous", "freshly made"),
    "building": ("tall", "weathered", "sturdy"),
    "plant": ("fresh", "delicate", "full"),
    "street": ("narrow", "winding", "long"),
    "landscape": ("vast", "open", "sweeping"),
    "object": ("small", "sturdy", "handsome", "well-made"),
}
#: What the intro says of the subject, beside its name (the recorded "with his golden mane").
FEATURES: dict[str, tuple[str, ...]] = {
    "astronaut": (
        "the visor of the helmet catching the sun",
        "the suit streaked with fine dust",
        "a slim life-support pack strapped to the back of the suit",
        "the helmet's visor reflecting the horizon",
    ),
    "mammal": (
        "{its} fur thick and softly ruffled",
        "{its} eyes bright and alert",
        "ears pricked forward, tail held low",
        "with a steady, watchful gaze and thick fur",
    ),
    "bird": (
        "{its} feathers neatly layered",
        "{its} eyes bright and watchful",
        "wings folded close to {its} body",
    ),
    "water": (
        "{its} skin glistening wet",
        "fins spread gently",
        "{its} body curving with easy grace",
    ),
    "person": (
        "with a calm and thoughtful expression",
        "{its} clothes simple and well worn",
        "posture relaxed and unhurried",
    ),
    "food": (
        "steam curling gently up from it",
        "arranged with evident care",
        "{its} colors fresh and appetizing",
    ),
    "building": (
        "{its} walls weathered by wind and rain",
        "{its} windows glinting faintly",
        "{its} outline sharp against the sky",
    ),
    "plant": (
        "{its} petals layered and full",
        "{its} leaves fresh and unblemished",
        "{its} stem upright and strong",
    ),
    "street": (
        "its facades leaning close on either side",
        "its windows glowing here and there",
        "its paving worn smooth by many feet",
    ),
    "landscape": (
        "its contours rolling into the distance",
        "its edges fading into a soft haze",
    ),
    "object": (
        "{its} surface smooth and finely made",
        "{its} edges catching the light",
        "{its} shape simple and well proportioned",
    ),
}
#: An animal asleep is not "alert": what the intro and details say of it instead.
ASLEEP_WORDS = words_of("sleeping asleep dozing napping slumbering")
ASLEEP_FEATURES = (
    "eyes closed and body curled",
    "breathing slow and even",
    "curled up, {its} fur soft and rumpled",
)
ASLEEP_DETAILS = (
    "{Its} sides rise and fall gently with each slow breath, and nothing stirs nearby.",
    "{Its} fur is soft and rumpled, and {its} paws are tucked neatly beneath {it}.",
    "Everything around is hushed, as though the world were holding its breath.",
    "A faint twitch of an ear is the only sign of a dream.",
    "The warmth of a long, lazy afternoon seems to hang over the sleeping {noun}.",
)
#: Weather a later clause names ("rain"), and what it does to the scene.
WEATHER: dict[frozenset[str], tuple[str, ...]] = {
    words_of("rain rainy raining drizzle downpour"): (
        "{What} falls steadily, leaving every surface wet and gleaming.",
        "{What} streaks the air, and every surface shines with water.",
    ),
    words_of("fog foggy mist misty haze hazy"): (
        "{What} hangs in the air, blurring everything in the distance.",
    ),
    words_of("snowing snowfall blizzard"): ("{What} drifts down, settling softly on everything.",),
    words_of("storm stormy thunderstorm"): (
        "{What} gathers overhead, heavy and dark with coming weather.",
    ),
}
#: A later clause about colour ("warm tones"), and what it adds.
PALETTE_WORDS = words_of(
    "tones tone palette colors colours hues color colour pastel pastels monochrome sepia"
)
PALETTE_EFFECTS = ("", ", carried through every part of the scene", ", kept soft and harmonious")
#: Sentences that fit any subject in any setting, light, mood and medium.
GENERAL = (
    "The background is kept simple, so that the {noun} stands out clearly.",
    "Around the {noun}, the surroundings fall away into quieter, softer tones.",
    "Small touches of detail reward a closer look without crowding the {noun}.",
    "The eye goes straight to the {noun} and stays there, drawn in by the detail.",
)
#: Features for a few nouns whose own details a reader expects (the recorded lion's mane).
NOUN_FEATURES: dict[str, tuple[str, ...]] = {
    "lion": ("with a thick golden mane and intense eyes", "its mane full and tawny"),
    "fox": ("{its} bushy tail curled close", "{its} thick coat fluffed against the cold"),
    "lighthouse": (
        "its lamp already glowing at the top",
        "its lantern gallery ringed by a narrow railing",
        "its tall tower standing firm above the rocks",
    ),
    "ramen": (
        "its broth rich and glossy",
        "noodles coiled in a deep, steaming broth",
        "topped with a soft-boiled egg and sliced scallions",
    ),
    "bowl": ("filled to the brim", "its rim glazed and slightly uneven"),
}
#: Sentences of detail about the subject.
DETAILS: dict[str, tuple[str, ...]] = {
    "astronaut": (
        "Fine dust clings to the knees and gloves of the suit, and the visor mirrors the "
        "landscape ahead.",
        "A faint trail of boot prints leads back across the ground behind the figure.",
        "The astronaut stands very still, one gloved hand resting at the side of the helmet.",
        "Small scuffs and patches on the suit tell of a long journey across rough ground.",
    ),
    "mammal": (
        "Each hair of {its} coat is picked out, from the dense underfur to the longer guard hairs.",
        "{Its} paws are planted firmly, and {its} muzzle is lifted slightly as if catching a "
        "scent.",
        "{Its} ears turn toward some distant sound, and {its} breath shows faintly in the air.",
    ),
    "bird": (
        "Every feather is distinct, the fine barring on {its} wings clearly visible.",
        "{Its} beak is sharp and clean, and {its} talons grip firmly.",
        "{Its} head is turned slightly, as if listening for something far off.",
        "A few loose feathers stir in the air around {it}.",
    ),
    "water": (
        "Tiny bubbles rise around {its} body, catching the light as they go.",
        "{Its} delicate fins ripple slowly in the water around {its} body.",
    ),
    "person": (
        "Small details of {its} clothing, the seams and folds, are carefully described.",
        "{Its} hands rest easily, and {its} gaze is fixed on something just out of view.",
    ),
    "food": (
        "Wisps of steam rise from the dish, and a pair of chopsticks rests beside it.",
        "Every ingredient is distinct, glistening as though it was served a moment ago.",
        "A small ceramic spoon and a folded napkin sit within easy reach.",
    ),
    "building": (
        "The stonework shows its age, with patches of moss and streaks left by years of rain.",
        "Narrow windows punctuate the walls, a few of them lit from within.",
    ),
    "plant": (
        "Tiny droplets of water cling to the petals and leaves, catching the light.",
        "The petals overlap in neat spirals that draw the eye to the center.",
    ),
    "street": (
        "Shop signs and small balconies line the facades, with windows stacked above them.",
        "A few figures pass far off, too small to make out clearly.",
        "Puddles on the paving hold broken reflections of the windows above.",
    ),
    "landscape": (
        "The land rises and falls in long gentle folds toward the horizon.",
        "Small details, a scattering of stones and low growth, give the scene its scale.",
    ),
    "object": (
        "{Its} surface shows small signs of use, a fine scratch here and a soft sheen there.",
        "A soft shadow falls beneath {it}, anchoring {it} to the surface below.",
        "{Its} proportions are pleasing, and every edge and join is neatly finished.",
        "The {noun} looks well used and well loved, with a character all its own.",
    ),
}
NOUN_DETAILS: dict[str, tuple[str, ...]] = {
    "lighthouse": (
        "Its lamp sends a pale beam out over the sea, sweeping slowly across the water.",
        "Waves break against the rocks at its base, throwing up a fine white spray.",
    ),
    "ramen": (
        "The noodles twist through a golden broth, with slices of pork and spinach on top.",
        "Thin rings of scallion and a sheet of nori rest at the edge of the bowl.",
    ),
}
#: An animal doing a human thing: the recorded rewrite calls it a "humorous juxtaposition".
WHIMSY = (
    "It is a humorous juxtaposition of a wild {noun} and an entirely domestic task.",
    "There is a gentle comedy in seeing a {noun} so absorbed in such a human chore.",
)
#: What an animal doing a human chore is seen doing (the recorded lion's "huge paws are
#: adroitly handling a large wooden spoon").
ACTION_DETAILS: dict[str, tuple[str, ...]] = {
    "cooking": (
        "{Its} big paws grip a wooden spoon with surprising care, stirring the pot.",
        "Steam curls up around {its} face as {it} leans in for a taste.",
        "Flour and a few stray ingredients are scattered across the counter beside {it}.",
    ),
    "wearing": (
        "{Its} headwear sits slightly askew, which only adds to the charm.",
        "The headwear looks a size too small, perched proudly all the same.",
    ),
    "reading": ("{Its} eyes follow the lines of the page with great concentration.",),
    "drinking": ("{It} holds the cup delicately, as if it were the most natural thing.",),
}
#: Where an action takes place when the prompt names no setting (the recorded lion's kitchen).
ACTION_SETTINGS: dict[str, tuple[str, ...]] = {
    "cooking": (
        "The scene is a homely kitchen, with a stove, a simmering pot and a wooden spoon "
        "resting on the counter.",
        "Around the {noun} is a busy kitchen counter crowded with saucepans, jars of herbs "
        "and spices.",
        "The kitchen around the {noun} is warm and cluttered, with copper pans hanging above "
        "the stove.",
    ),
    "reading": ("A worn armchair and a small lamp make a quiet reading corner around it.",),
    "drinking": ("A small round cafe table and a chair stand beside it, set for one.",),
    "baking": ("Flour dusts a wooden counter, and a warm oven glows in the background.",),
}
#: The place a subject is put when the prompt names none, by kind (as an "on ..."-phrase).
INVENTED_PLACES: dict[str, tuple[str, ...]] = {
    "astronaut": ("on a barren alien plain", "on a stretch of rocky, dusty ground"),
    "mammal": ("in a clearing at the edge of a wood", "on a low grassy rise"),
    "bird": ("on a weathered branch", "on a mossy fence post"),
    "water": ("in clear, still water", "among smooth stones in shallow water"),
    "person": ("in a quiet courtyard", "beside an old stone wall"),
    "food": ("on a worn wooden table", "on a simple ceramic plate on a wooden table"),
    "building": ("on a low rise of open ground", "above a quiet stretch of water"),
    "plant": ("in a garden bed", "against a softly blurred garden"),
    "street": ("", ""),
    "landscape": ("", ""),
    "object": ("on a plain wooden table", "on a windowsill", "on a simple shelf"),
}
NOUN_PLACES: dict[str, tuple[str, ...]] = {
    "lighthouse": ("on a rocky headland above the sea", "at the end of a stone pier"),
    "ramen": ("on the wooden counter of a small noodle shop", "on a lacquered tray"),
    "bowl": ("on the wooden counter of a small noodle shop",),
}
#: Sentences about a setting the prompt names, by its kind; ``space`` ones for Mars or the Moon.
SETTING_DETAILS: dict[str, tuple[str, ...]] = {
    "rock": (
        "Beyond the {place}, a plain of scattered stones and fine dust runs out to a hazy horizon.",
        "The {place} is rough and wind-carved, its edge crumbling into loose stones below.",
        "Layers of weathered rock show in the face of the {place}, falling away into shadow.",
    ),
    "space": (
        "Far below, craters and low hills fade into a thin, dusty haze at the horizon.",
        "The sky above the horizon is thin and pale, with fine dust hanging in the air.",
    ),
    "snow": (
        "Soft drifts of {place} stretch away on every side, marked only by a line of tracks.",
        "A few snowflakes drift slowly through the air, settling without a sound.",
        "The {place} is deep and fresh, its surface sculpted into gentle drifts by the wind.",
    ),
    "water": (
        "Small waves ripple across the water, breaking the reflections into fragments.",
        "The water stretches away to a low, distant horizon.",
    ),
    "urban": (
        "The {place} runs away into the distance between rows of old facades and shopfronts.",
        "Lamp posts and awnings line the {place}, with windows stacked above them.",
    ),
    "green": (
        "Leaves and grasses fill the ground around {it}, each blade and stem distinct.",
        "Dappled shade falls across the ground from the foliage overhead.",
    ),
    "interior": (
        "A few everyday objects sit nearby on the {place}, slightly out of focus.",
        "The {place} is plain and uncluttered, so nothing distracts from the subject.",
    ),
    "sky": ("Clouds pile up in soft towers across the {place}, lit along their edges.",),
}
# -- light, composition, mood and medium -----------------------------------------------------

#: What a light the prompt names does (after the prompt's own light clause as its subject).
LIGHT_EFFECTS: dict[str, tuple[str, ...]] = {
    "warm": (
        "outlines the {noun} in a thin line of warm light, and long shadows stretch across the "
        "ground",
        "washes the scene in amber, throwing long shadows across the ground",
        "leaves the air hazy and glowing around the {noun}",
        "leaves the near side of the {noun} dark and shadowy against the glow",
        "turns the {noun} into a near silhouette, dark and moody against the low sun",
    ),
    "dusk": (
        "fades from amber at the horizon to deep violet overhead",
        "leaves the scene in cool blue shadow under a softly glowing sky",
    ),
    "night": (
        "leaves deep shadows, broken only by a few small points of light",
        "picks out the edges of things against the dark",
    ),
    "soft": (
        "falls evenly across the scene, with soft, gentle shadows",
        "softens every edge and mutes the shadows",
    ),
    "none": (
        "falls across the scene and picks out the edges of every form",
        "gives the scene depth, with soft shadows under every form",
    ),
}
#: A light sentence when the prompt names a light family but no light clause, or none at all.
LIGHTS: dict[str, tuple[str, ...]] = {
    "warm": (
        "Low golden sunlight rakes across the scene, and long shadows stretch out behind the "
        "{noun}.",
        "The light is warm and low, picking out every edge in amber.",
    ),
    "dusk": (
        "The last light of the day lingers at the horizon, fading from amber into deep violet.",
        "The sky deepens toward blue, and the first lights begin to show in the gloom.",
    ),
    "night": (
        "The scene is lit by a pale moon and a few scattered lights, leaving deep shadows.",
        "Cool moonlight falls across the scene, turning the shadows a deep blue-black.",
    ),
    "soft": (
        "A soft, even light falls across the scene, with barely a shadow anywhere.",
        "Diffused light softens every edge, and the colors are gentle and muted.",
    ),
    "none": (
        "Soft natural light falls from one side, modeling every form with gentle shadows.",
        "The scene is evenly lit by gentle diffused daylight, with soft shadows.",
        "Warm light falls across the scene from one side, giving it depth.",
    ),
}
#: What a composition the prompt names does (wide or close), after "It is framed as ...".
COMPOSITION_EFFECTS = {
    "wide": (
        "leaving the {noun} small and off center in the open space around {it}",
        "with a broad sweep of the surroundings and generous negative space",
        "with the {noun} set off center against a wide sweep of sky",
        "seen from a low angle that sets the {noun} high against the sky",
    ),
    "close": (
        "with the {noun} filling most of the frame",
        "bringing every small detail of the {noun} into view",
    ),
    "other": (
        "with the {noun} as the clear focal point",
        "keeping the {noun} at the heart of the picture",
    ),
}
#: Invented compositions, by medium family (a painting has no lens).
COMPOSITIONS: dict[str, tuple[str, ...]] = {
    "photo": (
        "A shallow depth of field keeps the background softly blurred behind the {noun}.",
        "A low camera angle lends the {noun} presence and a sense of scale.",
        "The framing is balanced, with the {noun} slightly off center.",
    ),
    "art": (
        "The composition places the {noun} slightly off center, leaving generous open space.",
        "The composition is balanced, with the {noun} as the clear focal point.",
    ),
}
#: What a mood the prompt names does, after its clause ("The scene carries an air of ...").
MOOD_EFFECTS: dict[str, tuple[str, ...]] = {
    "calm": (
        "as if the world had gone silent around the {noun}",
        "with nothing to disturb the stillness",
        "inviting a slow and thoughtful look",
    ),
    "cheerful": ("full of warmth and good humor", "bright and full of charm"),
    "dark": ("with shadows that hint at something unseen", "heavy with quiet suspense"),
    "grand": ("giving the scene a sense of scale and grandeur", "bold and sweeping"),
    "none": ("that draws the viewer in", "that suits the scene well"),
}
#: Invented moods, by the family the prompt's words name (none: a mood that fits any scene).
MOODS: dict[str, tuple[str, ...]] = {
    "calm": (
        "The mood is still and contemplative, with nothing to disturb the silence.",
        "A deep sense of calm and stillness hangs over the whole scene.",
    ),
    "cheerful": (
        "The mood is playful and lighthearted, full of warmth and charm.",
        "The whole scene has a cheerful, good-humored charm.",
    ),
    "dark": (
        "The mood is brooding and mysterious, with shadows gathering at the edges.",
        "An uneasy, mysterious air hangs over the whole scene.",
    ),
    "grand": (
        "The mood is grand and dramatic, giving the scene a sense of occasion.",
        "Everything about the scene feels monumental and dramatic.",
    ),
    "none": (
        "The overall mood is calm and inviting, and the eye is drawn to linger.",
        "The scene feels natural and unforced, as if caught in a passing moment.",
        "There is a quiet, unhurried charm to the whole scene.",
        "The feeling is gentle and unforced, with an easy sense of place.",
    ),
}
#: What a medium the prompt names looks like, after "The image has the look of ...".
MEDIUM_EFFECTS: dict[str, tuple[str, ...]] = {
    "photo": (
        "with deep, saturated color, fine grain and sharp detail where the light falls",
        "with natural color and the crisp detail of a good lens",
        "with rich, vibrant color and crisp detail",
        "with muted, natural color and a soft, fine grain",
    ),
    "watercolor": (
        "loose washes of pigment bleeding softly into one another on textured paper",
        "with soft wet edges and the white of the paper showing through the washes",
    ),
    "painting": (
        "with visible brushwork and rich, layered color",
        "its colors built up in confident strokes of paint",
    ),
    "drawing": ("with clean linework and carefully placed areas of color",),
    "render": ("with smooth surfaces, soft global illumination and crisp edges",),
}
#: An invented medium sentence when the prompt names none, by the requested style.
MEDIA: dict[str, tuple[tuple[str, str], ...]] = {
    "vivid": (
        ("art", "The image is a vibrant digital painting with saturated, glowing colors."),
        ("photo", "The image has the look of a vivid, high-resolution photograph."),
        ("art", "The style is bold and striking, like polished concept art."),
        ("photo", "The image is a crisp, richly colored photograph full of life."),
        ("art", "The picture is a colorful, highly detailed digital illustration."),
    ),
    "natural": (
        ("photo", "The image has the realism of a documentary photograph, with natural color."),
        ("photo", "Its style is understated and true to life, like a natural photograph."),
        ("art", "The picture is calm and realistic in style, with natural, muted colors."),
        ("photo", "It looks like an unposed photograph, with soft and natural color."),
    ),
}
SAFETY = (
    "Any people shown are generic and not identifiable.",
    "The depiction is respectful and suitable for all audiences.",
    "No logos, trademarks or text appear anywhere in the image.",
)
