from edge_app.labels import LABELS, SLUGS, label_from_name, label_index


def test_one_list_of_ten_classes_in_label_order():
    assert len(LABELS) == len(SLUGS) == 10
    assert LABELS[0] == "T-shirt/top" and LABELS[9] == "Ankle boot"


def test_every_name_and_slug_resolves_to_its_index():
    for i, (name, slug) in enumerate(zip(LABELS, SLUGS)):
        assert label_index(name) == i
        assert label_index(slug) == i


def test_study_file_names_resolve():
    assert label_from_name("t-shirt.png") == 0
    assert label_from_name("ankle_boot.png") == 9
    assert label_from_name("tshirt2.jpg") == 0
    assert label_from_name("bag_01.jpg") == 8
    assert label_from_name("Sneaker 3.JPG") == 7
    assert label_from_name("ankle_boot_3.png") == 9


def test_unknown_names_give_none():
    assert label_from_name("holiday.jpg") is None
    assert label_index("spaceship") is None
