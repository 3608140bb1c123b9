"""English sector phrase bank for the offline copywriter and the ads agent (same shape as copy_fr).

Placeholders: {name}, {in_city} ("in Leeds", "near you"), {city}, {of_name}, {email}, {title}, {noun}, {sector}.
Nothing here invents checkable facts (dates, prices, accreditations): those come only from the description.
"""

from __future__ import annotations

from typing import Any

SECTORS: dict[str, dict[str, Any]] = {
    "bakery": {
        "noun": "craft bakery",
        "keyword": "bakery",
        "offers_heading": "Fresh from the oven",
        "offers": ("sourdough bread", "all-butter pastries", "seasonal cakes", "celebration orders"),
        "offer_details": (
            "Slow-fermented sourdough, country loaves, wholemeal and seeded breads, shaped by hand and baked daily.",
            "Croissants, pains au chocolat and brioche made with real butter, ready when the doors open.",
            "Fruit tarts, eclairs and layer cakes that change with the seasons.",
            "Pastry platters, birthday cakes and tiered cakes made to order for your celebrations.",
        ),
        "hero": ("Real bread {in_city}, baked every morning", "{name}: bread worth getting up for"),
        "subheading": (
            "Natural sourdough, carefully chosen flour and honest baking: drop in or order ahead.",
            "Everything on our shelves is mixed, shaped and baked on site, with no shortcuts.",
        ),
        "cta": "Order ahead",
        "values": (
            ("Made here, properly", "Everything we sell is mixed, shaped and baked in our own kitchen."),
            ("Good flour, long fermentation", "Time and good flour give our bread its crust, flavour and keeping."),
            ("Your neighbourhood bakery", "We know our regulars: the well-done loaf, the Saturday order."),
        ),
        "story": "At {name} the day starts long before opening: mixing, proving, shaping, then baking. We chose "
        "natural sourdough and long fermentation because they give bread its crust, its aroma and its keeping.",
        "approach": "Every batch is baked in small quantities to be sold the same day; fruit and speciality loaves "
        "follow the seasons.",
        "contact_tip": (
            "Special orders",
            "For a birthday cake, a tiered cake or a large bread order, email us a few days ahead with the date and "
            "the number of guests.",
        ),
        "pricing": (
            ("Counter prices", "Prices for every loaf and pastry are shown in the shop; speciality loaves by weight."),
            ("Orders and events", "For platters, buffets and celebration cakes we send a detailed quote first."),
        ),
        "emergency": (
            ("A last-minute order?", "Email us: if there is room in tomorrow's first bake, we will fit you in."),
            ("Meetings and surprises", "We can prepare a pastry platter to collect as soon as we open."),
        ),
        "topics": {
            "bread": (
                "Our sourdough breads",
                "Country, wholemeal, rye and seeded loaves, each with its own flour, "
                "fermentation and bake, shaped by hand and baked through the morning.",
            ),
            "cake": (
                "Celebration cakes",
                "Birthdays, christenings, weddings: cakes made to order, sized for your "
                "guests and flavoured the way you like.",
            ),
            "pastr": ("Pastries", "Flaky croissants, pains au chocolat and seasonal tarts, made on site every day."),
        },
        "ad_themes": (
            ("Bakery", ("bakery", "artisan bakery", "local bakery")),
            ("Sourdough", ("sourdough bread", "fresh bread", "artisan bread")),
            ("Cakes", ("birthday cake", "celebration cakes", "custom cakes")),
            ("Pastries", ("croissants", "french pastries")),
        ),
        "ad_headlines": (
            "Fresh Sourdough Daily",
            "All-Butter Croissants",
            "Baked On Site Every Day",
            "Cakes Made To Order",
            "Local Craft Bakery",
            "No Shortcuts, Real Bread",
        ),
        "ad_descriptions": (
            "Sourdough, pastries and celebration cakes baked on site {in_city}.",
            "Order cakes and platters for your events. Quick reply by email.",
            "Bread shaped by hand and baked every morning with carefully chosen flour.",
        ),
    },
    "plumber": {
        "noun": "plumbing and heating company",
        "keyword": "plumber",
        "offers_heading": "What we fix and fit",
        "offers": ("emergency repairs", "boiler repairs and servicing", "bathroom fitting", "leak detection"),
        "offer_details": (
            "Burst pipes, blocked drains, leaking taps and overflowing cisterns, repaired quickly and tidily.",
            "Annual servicing, fault finding, repairs and boiler replacements, with honest advice on each option.",
            "New showers, baths and complete bathroom refits, from first measure to final seal.",
            "We trace hidden leaks under floors and behind walls with minimal disruption to your home.",
        ),
        "hero": ("Your local plumber {in_city}", "{name}: fast, tidy, fairly priced"),
        "subheading": (
            "Repairs, boilers and bathrooms, with a clear quote before any work starts.",
            "Plumbers who turn up when they say, explain what they find and leave your home clean.",
        ),
        "cta": "Get a quote",
        "values": (
            ("A quote before we start", "You know the price before any work begins: no nasty surprises."),
            ("We leave it clean", "Dust sheets down, old parts taken away and everything wiped down after the job."),
            ("Straight answers", "We show you the fault and the options, so you can decide with all the facts."),
        ),
        "story": "{name} looks after homes and businesses {in_city}: urgent repairs, heating and bathrooms, done "
        "properly the first time.",
        "approach": "Every job starts with a diagnosis and a written quote; we use quality parts and leave you with "
        "maintenance tips.",
        "where": ("Areas we cover", "{name} works {in_city} and the surrounding towns and villages."),
        "contact_tip": (
            "For a faster quote",
            "Tell us what is wrong or what you are planning, attach a few photos and give your postcode.",
        ),
        "pricing": (
            ("Written quotes", "Bathroom and heating work is quoted in writing, line by line."),
            ("Repairs", "The call-out and labour price is agreed before we start; parts are itemised on the invoice."),
        ),
        "emergency": (
            (
                "Water leak? Do this first",
                "Turn off the stopcock, switch off the electricity if water is near sockets, then contact us with "
                "a short description and photos.",
            ),
            ("Urgent call-outs", "Leaks, flooding and heating failures in winter go to the top of our list."),
        ),
        "topics": {
            "boiler": ("Boilers", "Servicing, repairs and replacements, with advice on more efficient systems."),
            "bathroom": ("Bathrooms", "From a new shower to a full refit, we handle the plumbing end to end."),
            "heating": ("Heating", "Radiators, underfloor heating and power flushing for a warmer, cheaper home."),
        },
        "ad_themes": (
            ("Plumber", ("plumber", "local plumber", "plumbing services")),
            ("Emergency", ("emergency plumber", "burst pipe repair", "leak repair")),
            ("Boilers", ("boiler repair", "boiler service", "heating engineer")),
            ("Bathrooms", ("bathroom fitters", "shower installation")),
        ),
        "ad_headlines": (
            "Emergency Plumber",
            "Boiler Repairs & Servicing",
            "Clear Quote Before Work",
            "Bathroom Fitting",
            "Leak? Call Us Today",
            "Tidy, Reliable Plumbers",
        ),
        "ad_descriptions": (
            "Leaks, boilers and bathrooms: a local plumber {in_city} who works tidily.",
            "Written quote before every job. Tell us what you need and we will reply fast.",
            "Boiler servicing, repairs and replacements with honest advice.",
        ),
    },
    "law": {
        "noun": "law firm",
        "keyword": "solicitor",
        "offers_heading": "Areas of practice",
        "offers": ("business law", "employment law", "dispute resolution", "contract drafting"),
        "offer_details": (
            "Company formation, shareholder agreements and sales of businesses, for owners of small companies.",
            "Contracts, dismissals and disciplinary procedures, for employers and employees alike.",
            "Negotiation, mediation and representation before the courts and tribunals.",
            "Terms and conditions, supply and service agreements, reviewed or drafted to fit your business.",
        ),
        "hero": ("Lawyers on your side {in_city}", "{name}: clear advice, firm defence"),
        "subheading": (
            "Precise advice, fees agreed in advance and one lawyer who follows your case.",
            "We prevent disputes where we can and defend your interests where we must.",
        ),
        "cta": "Book a consultation",
        "values": (
            ("A lawyer who answers", "You know who is handling your matter and how to reach them."),
            ("Strategy before procedure", "We weigh your chances, costs and timing before taking any action."),
            ("Confidential", "What you tell us is protected by legal professional privilege."),
        ),
        "story": "{name} advises and represents businesses, their directors and private clients {in_city}. We "
        "favour plain explanations and cases followed from start to finish.",
        "approach": "Every matter starts with an initial meeting: your goals, the risks, the options and what they "
        "will cost.",
        "contact_tip": (
            "Preparing a first meeting",
            "Describe your matter in a few lines, mention any deadlines and gather the relevant contracts and letters.",
        ),
        "pricing": (
            ("A written fee agreement", "Before we act, a written agreement sets how we charge: hourly or fixed fee."),
            ("Fixed fees for routine work", "Contracts, articles and one-off advice can be quoted at a fixed fee."),
        ),
        "emergency": (
            ("A deadline coming up?", "Court dates, claims, limitation periods: flag them in your first message."),
            ("Urgent hearings", "Tell us the court and the hearing date: we will tell you quickly if we can act."),
        ),
        "topics": {
            "employment": ("Employment law", "Hiring, dismissals and tribunal claims, for employers and employees."),
            "business": ("Business law", "Articles, shareholder agreements and share sales, done right."),
            "contract": ("Contracts", "Terms, supply agreements and NDAs that prevent disputes before they start."),
        },
        "ad_themes": (
            ("Solicitor", ("solicitor", "law firm", "lawyer")),
            ("Business law", ("business lawyer", "commercial solicitor", "shareholder agreement")),
            ("Employment law", ("employment lawyer", "employment solicitor", "unfair dismissal lawyer")),
            ("Contracts", ("contract lawyer", "contract drafting")),
        ),
        "ad_headlines": (
            "Business Law Advice",
            "Employment Law Experts",
            "Fees Agreed Up Front",
            "Book A Consultation",
            "Contract Drafting",
            "Clear Legal Advice",
        ),
        "ad_descriptions": (
            "A law firm {in_city} advising and defending businesses and individuals.",
            "Written fee agreement before we act. Quick first response to every enquiry.",
            "Contracts, employment and disputes: one lawyer who follows your case.",
        ),
    },
    "restaurant": {
        "noun": "restaurant",
        "keyword": "restaurant",
        "offers_heading": "On the menu",
        "offers": ("seasonal cooking", "lunch menu", "private dining", "takeaway"),
        "offer_details": (
            "A short menu that follows the market, cooked from scratch every day.",
            "A set lunch for a good meal without losing the afternoon.",
            "Birthdays, team dinners and family gatherings, with a menu built for your group.",
            "Several dishes to take home, cooked to order.",
        ),
        "hero": ("Seasonal cooking {in_city}", "{name}: a table worth coming back to"),
        "subheading": (
            "Fresh produce, a short menu and a warm welcome, lunch and dinner.",
            "Today's market on the plate: book a table or drop in.",
        ),
        "cta": "Book a table",
        "values": (
            ("Cooked from scratch", "Stocks, sauces and desserts are made in our kitchen from raw ingredients."),
            ("Local producers", "We buy from nearby growers and follow the seasons."),
            ("A relaxed welcome", "An attentive team, a friendly room and good advice on what to drink."),
        ),
        "story": "Our restaurant started with a simple idea: seasonal, generous, honest cooking {in_city}, in a room "
        "where people feel at home.",
        "approach": "The menu follows the deliveries; every plate is finished to order.",
        "contact_tip": ("Bookings and groups", "Give the date, time and number of guests, plus any allergies."),
        "pricing": (
            ("Menus", "Current menus and prices are displayed at the restaurant, service included."),
            ("Groups", "For groups and private hire we suggest a menu and send a tailored quote."),
        ),
        "emergency": (
            ("A table tonight?", "Email us and we will confirm availability as soon as we can."),
            ("Last-minute business lunch", "We keep a few tables for short-notice requests."),
        ),
        "topics": {
            "menu": ("Our menus", "Lunch, dinner and children's menus, built on fresh local produce."),
            "wine": ("Wine list", "Wines from independent growers, by the glass or the bottle."),
        },
        "ad_themes": (
            ("Restaurant", ("restaurant", "places to eat", "local restaurant")),
            ("Lunch", ("lunch menu", "set lunch", "lunch near me")),
            ("Groups", ("private dining", "group dinner", "birthday dinner")),
        ),
        "ad_headlines": (
            "Seasonal Cooking",
            "Book Your Table",
            "Fresh Local Produce",
            "Set Lunch Menu",
            "Private Dining",
            "Cooked From Scratch",
        ),
        "ad_descriptions": (
            "Seasonal cooking made from scratch {in_city}, lunch and dinner.",
            "Book a table or plan a group dinner with a menu made for you.",
            "Fresh local produce and a menu that follows the market.",
        ),
    },
    "hairdresser": {
        "noun": "hair salon",
        "keyword": "hairdresser",
        "offers_heading": "Our services",
        "offers": ("cuts for women and men", "colour and balayage", "hair treatments", "wedding hair"),
        "offer_details": (
            "A cut designed around your face, your hair type and the time you want to spend on it.",
            "Colour, balayage and toning, natural or bold, always after a consultation.",
            "Deep treatments and routine advice for strong, shiny hair.",
            "Trials and on-the-day styling for brides and their party.",
        ),
        "hero": ("Your hair salon {in_city}", "{name}: hair that feels like you"),
        "subheading": (
            "Cuts, colour and treatments by appointment, with real time to talk it through.",
            "A careful consultation, precise work and products chosen for your hair.",
        ),
        "cta": "Book an appointment",
        "values": (
            ("Time to listen", "Every appointment starts with a chat about what you want and how you live."),
            ("Chosen products", "We pick treatments and colours that are kind to your hair."),
            ("By appointment", "No waiting around: your slot is kept for you."),
        ),
        "story": "{name} welcomes you to a calm salon where we listen before we cut.",
        "approach": "Consultation, treatment wash, cut or colour, then advice to keep the look at home.",
        "contact_tip": ("Booking", "Tell us the service you want and when you are free; for colour, your history."),
        "pricing": (
            ("Clear prices", "Prices for every service are shown in the salon and confirmed before we start."),
            ("Weddings and events", "Trials and wedding-day styling are quoted individually."),
        ),
        "emergency": (
            ("Need a quick appointment?", "Email us and we will offer the first free slot."),
            ("A quick fix?", "A fringe trim or a colour correction can often fit in the same week."),
        ),
        "topics": {
            "colour": ("Colour and balayage", "Balayage, ombré and gloss, painted by hand."),
            "wedding": ("Wedding hair", "Trials, updos and accessories: styling that lasts all day."),
            "men": ("Men's cuts and beards", "Scissor and clipper cuts, with careful beard trims."),
        },
        "ad_themes": (
            ("Hairdresser", ("hairdresser", "hair salon", "hairdressers near me")),
            ("Colour", ("balayage", "hair colour", "highlights")),
            ("Weddings", ("wedding hair", "bridal hair")),
        ),
        "ad_headlines": (
            "Cuts For Women And Men",
            "Colour & Balayage",
            "Book An Appointment",
            "Wedding Hair",
            "Hair Treatments",
            "Personal Consultation",
        ),
        "ad_descriptions": (
            "Cuts, colour and treatments in a friendly hair salon {in_city}.",
            "A careful consultation and chosen products. Book your appointment today.",
            "Balayage, colour and wedding styling by appointment.",
        ),
    },
}
