"""French sector phrase bank for the offline copywriter and the ads agent (shared phrases: copy_pages).

Placeholders: {name}, {in_city} ("à Lyon", "au Mans", "près de chez vous"), {city}, {of_name} ("de X", "d'X",
"du Y"), {email}, {title}, {noun}, {sector}. Nothing here invents checkable facts (dates, prices, labels):
those only ever come from the customer's own description.
"""

from __future__ import annotations

from typing import Any

SECTORS: dict[str, dict[str, Any]] = {
    "bakery": {
        "noun": "boulangerie artisanale",
        "keyword": "boulangerie",
        "offers_heading": "Au fournil, chaque jour",
        "offers": ("pain au levain", "viennoiseries pur beurre", "pâtisseries de saison", "commandes pour vos fêtes"),
        "offer_details": (
            "Baguette de tradition, campagne, complet et pains aux graines, pétris sur place et cuits chaque matin.",
            "Croissants, pains au chocolat et brioches façonnés à la main, à emporter dès l'ouverture.",
            "Tartes aux fruits du moment, éclairs et entremets qui changent au fil des saisons.",
            "Plateaux de viennoiseries, gâteaux d'anniversaire et pièces montées, préparés sur commande.",
        ),
        "hero": ("Le bon pain {in_city}, cuit chaque matin", "{name}, le goût du vrai pain"),
        "subheading": (
            "Levain naturel, farines choisies et gestes d'artisan : passez nous voir ou commandez à l'avance.",
            "Du fournil à votre table, des pains et des douceurs préparés sur place, sans raccourci.",
        ),
        "cta": "Passer commande",
        "values": (
            (
                "Fait maison, vraiment",
                "Tout ce qui est en vitrine est pétri, façonné et cuit dans notre fournil. Pas de pâte surgelée : "
                "le temps de fermentation fait le goût.",
            ),
            (
                "Des farines choisies",
                "Nous travaillons des farines de meule et des ingrédients simples, pour un pain qui se garde "
                "plusieurs jours et une mie qui a du goût.",
            ),
            (
                "Une boulangerie de quartier",
                "On connaît les habitudes de chacun : la baguette bien cuite, la part de flan, la commande du "
                "dimanche matin.",
            ),
        ),
        "story": "Chez {name}, le travail commence bien avant l'ouverture : pétrissage, pointage, façonnage, puis "
        "cuisson au fournil. Les fermentations longues et le levain naturel donnent au pain sa croûte, son parfum "
        "et sa tenue.",
        "approach": "Chaque fournée est préparée en petite quantité pour être vendue le jour même ; les fruits des "
        "tartes et les pains spéciaux suivent les saisons.",
        "contact_tip": (
            "Commandes spéciales",
            "Pour un gâteau d'anniversaire, une pièce montée ou une grande quantité de pains, écrivez-nous quelques "
            "jours avant en précisant la date et le nombre de personnes.",
        ),
        "pricing": (
            (
                "Les prix au comptoir",
                "Les prix de chaque pain et de chaque pâtisserie sont affichés en boutique ; les pains spéciaux se "
                "vendent à la pièce ou au poids.",
            ),
            (
                "Commandes et événements",
                "Pour les plateaux, buffets et pièces montées, nous envoyons un devis détaillé selon le nombre de "
                "personnes, avant toute commande.",
            ),
        ),
        "emergency": (
            (
                "Une commande de dernière minute ?",
                "Écrivez-nous : s'il reste de la place dans la fournée du lendemain, nous préparons vos pains et "
                "viennoiseries à temps.",
            ),
            (
                "Réunions et imprévus",
                "Pour un petit-déjeuner d'équipe, nous préparons un assortiment de viennoiseries à retirer dès "
                "l'ouverture.",
            ),
        ),
        "topics": {
            "pain": (
                "Nos pains au levain",
                "Tradition, campagne, complet, seigle ou graines : chaque pain a sa farine, sa fermentation et sa "
                "cuisson. Ils sont façonnés à la main et sortent du four tout au long de la matinée.",
            ),
            "patiss": (
                "Pâtisseries de saison",
                "Tartes aux fruits, éclairs, flans et entremets changent avec les saisons. Les recettes sont "
                "simples, le beurre et les fruits choisis avec soin, et tout est préparé sur place.",
            ),
            "viennois": (
                "Viennoiseries pur beurre",
                "Croissants feuilletés, pains au chocolat, brioches et chaussons sortent du four dès l'ouverture, "
                "façonnés la veille et cuits le matin même.",
            ),
            "gateau": (
                "Gâteaux sur commande",
                "Anniversaires, baptêmes, mariages : nous réalisons vos gâteaux et pièces montées sur commande, "
                "avec des parfums et des tailles adaptés au nombre d'invités.",
            ),
        },
        "ad_themes": (
            ("Boulangerie", ("boulangerie", "boulangerie artisanale", "boulanger")),
            ("Pain au levain", ("pain au levain", "pain artisanal", "baguette tradition")),
            ("Pâtisserie", ("pâtisserie", "gâteau anniversaire", "tarte aux fruits")),
            ("Viennoiseries", ("croissant pur beurre", "viennoiseries")),
        ),
        "ad_headlines": (
            "Pain au levain naturel",
            "Viennoiseries pur beurre",
            "Cuit chaque matin sur place",
            "Gâteaux sur commande",
            "Boulangerie artisanale",
            "Des farines choisies",
            "Fait maison, sans raccourci",
        ),
        "ad_descriptions": (
            "Pains au levain, viennoiseries et pâtisseries faits maison {in_city}.",
            "Commandez vos gâteaux et plateaux pour vos fêtes : réponse rapide par e-mail.",
            "Des pains pétris et cuits sur place chaque matin, avec des farines choisies.",
        ),
    },
    "plumber": {
        "noun": "entreprise de plomberie",
        "keyword": "plombier",
        "offers_heading": "Nos interventions",
        "offers": ("dépannage de fuites", "chaudières et chauffage", "salles de bains", "chauffe-eau"),
        "offer_details": (
            "Fuite sous évier, canalisation bouchée, robinet qui goutte : nous localisons la panne et réparons "
            "proprement.",
            "Entretien annuel, réparation et remplacement de chaudières, radiateurs et circuits de chauffage.",
            "Rénovation complète ou remplacement d'une douche, d'une baignoire ou d'un meuble vasque.",
            "Diagnostic, détartrage et remplacement de ballons d'eau chaude électriques ou thermodynamiques.",
        ),
        "hero": ("Votre plombier {in_city}, rapide et soigneux", "Une fuite, une panne ? {name} intervient"),
        "subheading": (
            "Dépannage, chauffage et salles de bains : un devis clair avant chaque intervention.",
            "Des plombiers qui expliquent ce qu'ils font, travaillent proprement et respectent les horaires.",
        ),
        "cta": "Demander un devis",
        "values": (
            ("Un devis avant de commencer", "Vous connaissez le prix avant le début des travaux : pas de surprise."),
            (
                "Un chantier propre",
                "Protection des sols, évacuation des anciennes pièces, nettoyage en fin d'intervention : nous "
                "laissons les lieux comme nous les avons trouvés.",
            ),
            (
                "Des explications claires",
                "Nous vous montrons la panne, la réparation et les options possibles, pour que vous décidiez en "
                "connaissance de cause.",
            ),
        ),
        "story": "{name} intervient chez les particuliers et les professionnels {in_city} pour les dépannages, "
        "l'entretien du chauffage et la rénovation des pièces d'eau.",
        "approach": "Chaque intervention commence par un diagnostic et un devis ; nous utilisons des pièces de "
        "qualité et vous laissons des conseils d'entretien.",
        "contact_tip": (
            "Pour un devis plus rapide",
            "Décrivez la panne ou le projet, joignez quelques photos et indiquez votre adresse : nous revenons vers "
            "vous avec un créneau et une estimation.",
        ),
        "where": ("Zone d'intervention", "{name} intervient {in_city} et dans les communes alentour."),
        "pricing": (
            (
                "Devis détaillé",
                "Pour les travaux de rénovation et de chauffage, le devis est détaillé poste par poste.",
            ),
            (
                "Dépannage",
                "Le prix du déplacement et de la main-d'œuvre est annoncé avant l'intervention ; les pièces "
                "remplacées figurent sur la facture.",
            ),
        ),
        "emergency": (
            (
                "Fuite d'eau : les bons réflexes",
                "Coupez l'arrivée d'eau au compteur, coupez l'électricité si l'eau approche d'une prise, puis "
                "contactez-nous en décrivant la situation.",
            ),
            (
                "Dépannage en urgence",
                "Nous traitons en priorité les fuites, dégâts des eaux et pannes de chauffage en plein hiver.",
            ),
        ),
        "topics": {
            "chaudi": (
                "Chaudières",
                "Entretien annuel obligatoire, dépannage et remplacement : nous intervenons sur les chaudières gaz "
                "et fioul et vous conseillons sur les équipements plus économes.",
            ),
            "bain": (
                "Salles de bains",
                "De la douche à l'italienne au remplacement d'une baignoire, nous prenons en charge la plomberie et "
                "la coordination des travaux.",
            ),
            "chauffage": (
                "Chauffage",
                "Radiateurs, planchers chauffants, désembouage : un chauffage bien réglé consomme moins et chauffe "
                "mieux.",
            ),
        },
        "ad_themes": (
            ("Plombier", ("plombier", "plomberie", "artisan plombier")),
            ("Dépannage", ("plombier urgence", "fuite d'eau", "dépannage plomberie")),
            ("Chauffage", ("réparation chaudière", "entretien chaudière", "chauffagiste")),
            ("Salle de bains", ("rénovation salle de bain", "installation douche")),
        ),
        "ad_headlines": (
            "Dépannage plomberie",
            "Devis clair avant travaux",
            "Entretien de chaudière",
            "Rénovation salle de bains",
            "Fuite d'eau ? Contactez-nous",
            "Intervention soignée",
            "Chauffage et chauffe-eau",
        ),
        "ad_descriptions": (
            "Fuites, chaudières, salles de bains : un plombier {in_city} qui travaille proprement.",
            "Devis détaillé avant chaque intervention. Décrivez votre besoin, nous vous répondons.",
            "Dépannage, entretien et remplacement de chaudières et chauffe-eau.",
        ),
    },
    "law": {
        "noun": "cabinet d'avocats",
        "keyword": "avocat",
        "offers_heading": "Nos domaines d'intervention",
        "offers": ("droit des affaires", "droit du travail", "contentieux", "rédaction de contrats"),
        "offer_details": (
            "Création et vie des sociétés, pactes d'associés, cessions : nous accompagnons les dirigeants de PME.",
            "Contrats de travail, ruptures, procédures disciplinaires : un conseil pour employeurs et salariés.",
            "Négociation, médiation et représentation devant les juridictions, dont le conseil de prud'hommes.",
            "Conditions générales, contrats commerciaux et de prestation, relus ou rédigés sur mesure.",
        ),
        "hero": ("Des avocats à vos côtés {in_city}", "{name} : conseil et défense de vos intérêts"),
        "subheading": (
            "Un conseil précis, des honoraires annoncés à l'avance et un interlocuteur qui suit votre dossier.",
            "Nous prévenons les litiges quand c'est possible et défendons vos intérêts quand il le faut.",
        ),
        "cta": "Prendre rendez-vous",
        "values": (
            ("Un avocat qui vous répond", "Vous savez qui suit votre dossier et comment le joindre."),
            (
                "La stratégie avant la procédure",
                "Nous évaluons vos chances, les coûts et les délais avant d'engager une action : parfois, une "
                "négociation bien menée vaut mieux qu'un procès.",
            ),
            (
                "Le secret professionnel",
                "Vos échanges avec le cabinet sont couverts par le secret professionnel de l'avocat.",
            ),
        ),
        "story": "{name} conseille et défend les entreprises, leurs dirigeants et les particuliers {in_city}. Nous "
        "privilégions des explications claires et des dossiers suivis de bout en bout.",
        "approach": "Chaque dossier commence par un rendez-vous d'analyse : vos objectifs, les risques, les "
        "solutions possibles et leur coût.",
        "contact_tip": (
            "Préparer un premier rendez-vous",
            "Indiquez en quelques lignes l'objet de votre demande et les échéances éventuelles ; rassemblez les "
            "contrats, courriers et décisions utiles.",
        ),
        "pricing": (
            (
                "Une convention d'honoraires",
                "Avant toute mission, une convention d'honoraires écrite fixe le mode de facturation : au temps "
                "passé, au forfait ou avec un honoraire de résultat.",
            ),
            (
                "Des forfaits pour les actes courants",
                "Rédaction de contrats, statuts ou consultations ponctuelles peuvent faire l'objet d'un forfait "
                "annoncé à l'avance.",
            ),
        ),
        "emergency": (
            (
                "Une échéance proche ?",
                "Convocation, mise en demeure, délai de recours : signalez-le dès votre premier message, nous "
                "traitons en priorité les dossiers urgents.",
            ),
            (
                "Garde à vue et procédures urgentes",
                "Précisez la juridiction et la date d'audience : nous vous indiquons rapidement si nous pouvons "
                "intervenir.",
            ),
        ),
        "topics": {
            "affaires": (
                "Droit des affaires",
                "Statuts, pactes d'associés, cessions de parts : nous sécurisons les "
                "étapes clés de la vie de votre entreprise.",
            ),
            "travail": (
                "Droit du travail",
                "Recrutement, rupture du contrat, contentieux prud'homal : un conseil "
                "concret pour les employeurs comme pour les salariés.",
            ),
            "contrat": (
                "Rédaction de contrats",
                "Un contrat bien rédigé évite bien des litiges : conditions générales, "
                "contrats de prestation, accords de confidentialité.",
            ),
        },
        "ad_themes": (
            ("Avocat", ("avocat", "cabinet d'avocats", "conseil juridique")),
            ("Droit des affaires", ("avocat droit des affaires", "avocat entreprise", "pacte d'associés")),
            ("Droit du travail", ("avocat droit du travail", "avocat prud'hommes", "licenciement avocat")),
            ("Contrats", ("rédaction de contrats", "avocat contrat commercial")),
        ),
        "ad_headlines": (
            "Droit des affaires",
            "Droit du travail",
            "Conseil aux PME",
            "Honoraires annoncés",
            "Prendre rendez-vous",
            "Contentieux prud'homal",
            "Rédaction de contrats",
        ),
        "ad_descriptions": (
            "Un cabinet d'avocats {in_city} pour conseiller et défendre les entreprises.",
            "Convention d'honoraires écrite avant chaque mission. Premier échange rapide.",
            "Contrats, droit du travail, contentieux : un avocat qui suit votre dossier.",
        ),
    },
    "restaurant": {
        "noun": "restaurant",
        "keyword": "restaurant",
        "offers_heading": "À la carte",
        "offers": ("cuisine de saison", "menu du midi", "groupes et privatisation", "vente à emporter"),
        "offer_details": (
            "Une carte courte qui change avec le marché, cuisinée sur place à partir de produits frais.",
            "Un menu du jour pour déjeuner bien sans perdre de temps.",
            "Anniversaires, repas d'équipe, fêtes de famille : nous composons un menu adapté à votre groupe.",
            "Plusieurs plats de la carte sont proposés à emporter, préparés au moment de la commande.",
        ),
        "hero": ("Une cuisine de saison {in_city}", "{name}, une table où l'on revient"),
        "subheading": (
            "Des produits frais, une carte courte et un accueil chaleureux, midi et soir.",
            "Le marché du jour dans l'assiette : réservez votre table ou venez en voisin.",
        ),
        "cta": "Réserver une table",
        "values": (
            ("Fait maison", "Fonds, sauces et desserts sont préparés en cuisine, à partir de produits bruts."),
            ("Producteurs de la région", "Nous travaillons avec des producteurs proches et suivons les saisons."),
            ("Un accueil simple", "Une équipe attentive, une salle conviviale et des conseils pour les accords."),
        ),
        "story": "Notre restaurant est né d'une envie simple : servir {in_city} une cuisine de saison, généreuse "
        "et sincère, dans un cadre où l'on se sent bien.",
        "approach": "La carte évolue avec les arrivages ; chaque assiette est dressée à la commande.",
        "contact_tip": (
            "Réservations et groupes",
            "Indiquez la date, l'heure et le nombre de couverts ; pour les groupes, précisez les allergies et "
            "régimes particuliers.",
        ),
        "pricing": (
            ("Menus et carte", "La carte et les menus du moment sont affichés au restaurant, prix service compris."),
            ("Groupes", "Pour les groupes et privatisations, nous proposons un menu et un devis sur mesure."),
        ),
        "emergency": (
            ("Une table ce soir ?", "Écrivez-nous : nous vous confirmons la disponibilité dès que possible."),
            ("Un repas d'affaires imprévu", "Nous gardons quelques tables pour les demandes de dernière minute."),
        ),
        "topics": {
            "carte": ("La carte", "Entrées, plats et desserts changent au fil des saisons, selon les arrivages."),
            "menu": ("Nos menus", "Menu du midi, menu du soir et menu enfant, avec des produits frais et locaux."),
            "vin": ("La cave", "Une sélection de vins de vignerons, à découvrir au verre ou à la bouteille."),
        },
        "ad_themes": (
            ("Restaurant", ("restaurant", "où manger", "bon restaurant")),
            ("Déjeuner", ("menu du midi", "restaurant midi", "déjeuner")),
            ("Groupes", ("restaurant groupe", "privatisation restaurant", "repas anniversaire")),
        ),
        "ad_headlines": (
            "Cuisine de saison",
            "Réservez votre table",
            "Produits frais et locaux",
            "Menu du midi",
            "Groupes et privatisation",
            "Fait maison",
        ),
        "ad_descriptions": (
            "Une cuisine de saison faite maison {in_city}, midi et soir.",
            "Réservez votre table ou organisez un repas de groupe sur mesure.",
            "Des produits frais de la région et une carte qui suit le marché.",
        ),
    },
    "hairdresser": {
        "noun": "salon de coiffure",
        "keyword": "coiffeur",
        "offers_heading": "Nos prestations",
        "offers": ("coupe femme et homme", "couleur et balayage", "soins du cheveu", "coiffure de mariage"),
        "offer_details": (
            "Une coupe pensée pour votre visage, votre nature de cheveux et le temps que vous voulez y passer.",
            "Coloration, balayage, patine : des nuances naturelles ou affirmées, avec un diagnostic préalable.",
            "Soins profonds et conseils de routine pour des cheveux forts et brillants.",
            "Essai et coiffure du jour J pour les mariées et leurs proches.",
        ),
        "hero": ("Votre salon de coiffure {in_city}", "{name}, des cheveux qui vous ressemblent"),
        "subheading": (
            "Coupe, couleur et soins sur rendez-vous, avec un vrai temps de conseil.",
            "Un diagnostic attentif, des gestes précis et des produits choisis pour vos cheveux.",
        ),
        "cta": "Prendre rendez-vous",
        "values": (
            ("Le temps du conseil", "Chaque rendez-vous commence par un échange sur vos envies et vos habitudes."),
            ("Des produits choisis", "Nous sélectionnons des soins et colorations respectueux du cheveu."),
            ("Sur rendez-vous", "Pas d'attente : votre créneau vous est réservé."),
        ),
        "story": "{name} vous accueille dans un salon calme, où l'on prend le temps d'écouter avant de couper.",
        "approach": "Diagnostic, shampooing soin, coupe ou couleur, puis conseils pour entretenir le résultat chez "
        "vous.",
        "contact_tip": (
            "Prendre rendez-vous",
            "Indiquez la prestation souhaitée et vos disponibilités ; pour une couleur, précisez vos dernières "
            "colorations.",
        ),
        "pricing": (
            (
                "Tarifs affichés",
                "Les tarifs de chaque prestation sont affichés au salon et confirmés avant de commencer.",
            ),
            ("Mariages et événements", "Essai et jour J font l'objet d'un devis personnalisé."),
        ),
        "emergency": (
            ("Un rendez-vous rapide ?", "Écrivez-nous : nous vous proposons le premier créneau libre."),
            ("Une retouche ?", "Une frange ou une correction de couleur peut souvent se caler dans la semaine."),
        ),
        "topics": {
            "couleur": ("Couleur et balayage", "Balayage, ombré, gloss : des nuances travaillées à la main."),
            "mariage": ("Coiffure de mariage", "Essai, chignon, ornements : une coiffure qui tient toute la journée."),
            "homme": ("Coupe homme et barbe", "Coupe aux ciseaux ou à la tondeuse et taille de barbe soignée."),
        },
        "ad_themes": (
            ("Coiffeur", ("coiffeur", "salon de coiffure", "coiffeuse")),
            ("Couleur", ("balayage", "coloration cheveux", "coiffeur couleur")),
            ("Mariage", ("coiffure mariage", "chignon mariée")),
        ),
        "ad_headlines": (
            "Coupe femme et homme",
            "Couleur et balayage",
            "Prenez rendez-vous",
            "Coiffure de mariage",
            "Soins du cheveu",
            "Conseil personnalisé",
        ),
        "ad_descriptions": (
            "Coupe, couleur et soins dans un salon de coiffure {in_city}.",
            "Un diagnostic attentif et des produits choisis. Prenez rendez-vous en ligne.",
            "Balayage, coloration et coiffures de mariage sur rendez-vous.",
        ),
    },
}
