"""Residents' personal data written in words: names, home addresses, e-mails, licence plates, passports.

Every pattern is linear in the text: bounded repetitions only, no nested unbounded quantifiers,
and each pattern starts at a literal cue, a digit or a lookbehind-anchored token start.

* **邮箱** — ``local@domain.tld`` (RFC 5321's usual subset), also full-width.
* **车牌** — GA 36-2018 plates: a province abbreviation, a letter, an optional separator (·, space,
  dash) and 5 characters (regular) or 6 (new-energy), at least one a digit; 挂/学/警/港/澳 endings.
* **护照号** — the Chinese ordinary passport forms E+8 digits, E+letter+7 digits and G+8 digits;
  after a label (护照, 通行证, passport) any 1–2 letters + 6–9 digits.
* **住址** — a dwelling: building + room (3号楼2单元501室, 5栋1202, A座1203), unit + room
  (2单元501), a courtyard + building-unit-room (12号院3-2-501), found anywhere; a coarser place
  (3号楼, 幸福路88号, 3-2-501) only when the resident says it is where they live (我住…, 家住…,
  我家在…, 地址是…, "我是3号楼的…"). "3号楼在哪" is a question about a place and stays. The
  estate's name before the number (阳光小区) stays: it is shared by thousands of households.
* **姓名** — a self-introduction: after 我叫 / 我的名字是 / 姓名 / my name is, the name that
  follows; after 我是 / 叫我 / 这是 (and "我是…的"), only a surname-led name (王建国, 李阿姨,
  老王, 小李) that is not a common noun (党员, 房东, 江西人); "I'm/I am/this is" + two capitalised
  words. **"我姓王" stays**: a surname alone is shared by tens of millions and staff need it to
  address the resident (王阿姨); "我姓王，叫建国" loses the given name.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from appliance.privacy.views import Finding, View

_HAN = r"[\u4e00-\u9fff]"

# -- e-mail, plate, passport (NFKC view) -----------------------------------------------------------

_EMAIL = re.compile(
    r"(?<![A-Za-z0-9._%+\-])[A-Za-z0-9][A-Za-z0-9._%+\-]{0,63}@[A-Za-z0-9][A-Za-z0-9\-]{0,62}"
    r"(?:\.[A-Za-z0-9\-]{1,63}){0,6}\.[A-Za-z]{2,24}(?![A-Za-z0-9\-])"
)
_PROVINCES = "京津沪渝冀豫云辽黑湘皖鲁新苏浙赣鄂桂甘晋蒙陕吉闽贵粤青藏川宁琼"
_PLATE = re.compile(
    rf"[{_PROVINCES}][A-Za-z][ ·.\-]?(?=[A-Za-z0-9]{{0,5}}\d)[A-Za-z0-9]{{4,5}}[A-Za-z0-9挂学警港澳领使](?![A-Za-z0-9])"
)
_PASSPORT = re.compile(r"(?<![A-Za-z0-9])(?:[EGeg]\d{8}|[Ee][A-Za-z]\d{7})(?![A-Za-z0-9])")
_PASSPORT_LABELLED = re.compile(
    r"(?i:护照|passport|通行证)(?:号码|号|\s?no\.?|\s?number)?\s?(?:是|为|:|：|#)?\s?(?P<v>[A-Za-z]{1,2}\d{6,9})(?![A-Za-z0-9])"
)

# -- names (NFKC view) -----------------------------------------------------------------------------

# The common surnames (about 400; 百家姓 and the 2020 census order), leaving out those that are
# mostly function words (和 时 来 都 那 但 由 区 位 全 应 原 门 能 有).
_SURNAMES_1 = (
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈"
    "姚卢姜崔钟谭陆汪范金石廖贾夏韦付傅方白邹孟熊秦邱江尹薛闫阎段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向"
    "汤常温康施文牛樊葛邢安齐易乔伍庞颜倪庄聂章鲁岳翟殷詹申欧耿关兰焦俞左柳甘祝包宁尚符舒阮柯纪梅童凌毕单季"
    "裴霍涂成苗谷盛曲翁冉骆蓝路游辛靳管柴蒙鲍华喻祁蒲房滕屈饶解牟艾尤阳穆农司卓古吉缪简车项连芦麦褚娄窦戚岑"
    "景党宫费卜冷晏席卫米柏宗瞿桂佟臧闵苟邬边卞姬师仇栾隋商刁沙荣巫寇桑郎甄丛仲虞敖巩明佘池查麻苑迟邝官封谈"
    "匡鞠惠荆乐冀郁胥南班储栗燕楚鄢劳谌奚皮粟冼蔺楼盘满闻厉伊仝郜海阚花权强帅屠豆朴盖练廉禹井祖漆巴丰支卿国"
    "狄平计索宣晋相初云容敬扈晁芮普阙浦戈伏鹿薄邸雍辜羊乌母裘亓修邰赫杭况宿鲜印逯隆茹诸战慕危玉银亢嵇公哈湛"
    "宾戎勾茅利於呼居揭干尉冶斯元束檀衣信展阴昝智幸奉植衡富尧闭"
)
_SURNAMES_2 = (
    "欧阳|司马|诸葛|上官|东方|皇甫|尉迟|公孙|慕容|长孙|宇文|司徒|夏侯|令狐|轩辕|端木|独孤|南宫|西门|百里|"
    "呼延|钟离|澹台|申屠|太史|万俟|闻人|赫连|拓跋"
)
_SURNAME = rf"(?:{_SURNAMES_2}|[{_SURNAMES_1}])"
_TITLE = (
    "阿姨|大爷|大妈|大娘|大婶|婶婶|叔叔|阿叔|伯伯|大伯|大叔|奶奶|爷爷|姥姥|姥爷|外婆|外公|婆婆|阿婆|阿公|大姐|"
    "大哥|姐姐|哥哥|老师|师傅|女士|先生|小姐|同志|老伯|阿伯|姐|哥|叔|婶|伯|姨"
)
# Characters that do not start a given name but start what usually follows 我是 + surname
# (我是党员, 我是车主), and that do not end one (我是海员, 我是顾客).
_NOT_GIVEN = (
    "的了是在有个人们这那么样吗呢吧啊呀哦嘛还也都就又很太不没和与跟给让被把从到对为以及或等些里外上下中内多少几"
    "第每各该此其它他她您你我自己过着员户民工生者属孙妈爸爹娘亲友邻居区县市省村镇街路楼栋室号年月日岁元想要来去"
    "问办说看找能会可主客机理领队族位末"
)
_NOT_LAST = "员者户客机族队们属"
# Common words that start with a surname character: 我是党员, 我是房东, 我是江西人, 我是小区的…
_NOT_NAMES = (
    "房东|房客|房主|党员|党委|高龄|高中|高三|高二|高一|高考|单身|单亲|单位|全职|关系|常住|常客|方便|明白|明天|明年|"
    "安全|本地|外地|路过|成人|成年|成员|文盲|向导|万一|农民|农村|农业|金融|江西|江苏|江浙|湖南|湖北|河南|河北|山东|"
    "山西|广东|广西|云南|贵州|四川|福建|安徽|浙江|黑龙江|吉林|辽宁|甘肃|青海|陕西|海南|台湾|香港|澳门|北京|天津|上海|"
    "重庆|宁夏|新疆|西藏|内蒙|东北|华北|华南|华东|南方|北方|沈阳|武汉|南京|杭州|成都|西安|长沙|郑州|济南|石家庄|太原|"
    "合肥|南昌|福州|昆明|贵阳|南宁|海口|兰州|西宁|银川|拉萨|长春|深圳|广州|苏州|温州|宁波|青岛|大连|厦门|小区|小学|"
    "小孩|小时|小朋友|老师|老人|老年|老乡|老板|老家|老伴|老党员|老兵|师傅|师范|平时|平民|国家|国外|海外|海员|文化|"
    "华人|华侨|汉族|苗族|满族|回族|蒙古|朝鲜|壮族|居民|业主|租户|残疾|军人|退休|志愿|独生|低保|孤寡|空巢|社区|物业|"
    "孙子|孙女|管理|周末|司机|车主|车友|顾客|顾问|申请|卫生|白领|蓝领|黄牛|包工|钱包|计划|初中|祝福|包括"
)
_END = rf"(?=$|[^\u4e00-\u9fff]|[的想要来问请在住今家我是啊呀呢哦吧嘛也和跟给找办有说就]|{_TITLE})"
# After a weak cue the name must end the clause, or come before a few particles or "的" + a
# relative ("我是王建国的家属"): "我是周末来的" is not 周末 introducing themselves.
_KIN = "家属|女儿|儿子|妈妈|母亲|爸爸|父亲|老伴|爱人|妻子|丈夫|家人|邻居|孙子|孙女|外孙|朋友|同事|亲戚|保姆|护工"
_WEAK_END = rf"(?=$|[^\u4e00-\u9fff]|[想要问请住今家啊呀呢哦吧嘛也就]|的(?:{_KIN})|{_TITLE})"


def _surname_led(end: str) -> str:
    return (
        rf"(?!(?:{_NOT_NAMES}))(?:(?:老|小){_SURNAME}{end}|{_SURNAME}(?:{_TITLE})|"
        rf"{_SURNAME}(?![{_NOT_GIVEN}]){_HAN}(?:(?![{_NOT_LAST}]){_HAN})?{end})"
    )


_ANY_NAME = rf"(?![不了一这那你他她它什啥人出])(?:{_surname_led(_END)}|{_HAN}{{2,4}}?{_END})"
_NAMES = (
    # strong cues: the name follows whatever it looks like
    re.compile(rf"(?:我叫|我的名字[是叫]|名字[是叫]|姓名[是为]?|本人[是叫])[:：\s]{{0,3}}(?P<v>{_ANY_NAME})"),
    re.compile(rf"姓{_SURNAME}[，,、\s]{{0,2}}(?:名字)?叫(?P<v>{_HAN}{{1,2}}?{_END})"),
    # weak cues: a surname-led name only
    re.compile(
        rf"(?:我是|我就是|这是|俺是|叫我)[\s]{{0,2}}(?:[^\s，。,.!?！？、；;：:]{{1,12}}?的)?(?P<v>{_surname_led(_WEAK_END)})"
    ),
)
_EN_STOP = (
    r"(?i:on|at|in|back|later|please|if|when|the|a|an|and|now|tomorrow|today|not|to|from|for|is|was|here|"
    r"there|this|that|any|anytime|me|you|him|her|us|them|soon|again|after|before|by|via|with|about|so|just|"
    r"maybe|sometime|tonight|i|im|it|what|how|where|why|who|which|no|yes|ok|okay|very|really)\b"
)
_EN_WORD = r"[A-Za-z][A-Za-z'\-]{0,29}"
_EN_NAMES = (
    re.compile(
        rf"(?i:my name is|my name's|my full name is|name:|i am called|i'm called)\s{{1,3}}"
        rf"(?P<v>(?:(?i:mr|mrs|ms|miss|dr)\.?\s{{1,2}})?(?!{_EN_STOP}){_EN_WORD}(?:\s(?!{_EN_STOP}){_EN_WORD}){{0,2}})"
    ),
    re.compile(r"(?i:call me|you can call me)\s{1,3}(?P<v>[A-Z][a-z'\-]{1,29}(?:\s[A-Z][a-z'\-]{1,29}){0,2})"),
    re.compile(
        r"\b(?:I'm|I am|I’m|This is|this is)\s{1,3}(?P<v>(?:(?:Mr|Mrs|Ms|Miss|Dr)\.?\s)?"
        r"(?!(?:Chinese|English|American|British|Not|So|Very|Here|From|Sorry|Just|Looking|Calling|Trying|"
        r"Going|New|Old|Retired|Disabled|Living|Staying)\b)[A-Z][a-z'\-]{1,29}\s[A-Z][a-z'\-]{1,29})"
    ),
)

# -- home addresses (digit view: Chinese numerals are digits there) ---------------------------------

_N = r"[0-9十百]{1,4}"
_S = r"[ \-]?"
_ROOM_NOT_BEFORE = "0-9元块角平米人个岁年月日号分秒%"
_YARD = rf"{_N}(?:号院|期|区)"
_BLDG = rf"(?:{_N}|[A-Za-z])(?:号楼|号?栋|号?幢|号?座|号(?={_N}单元))"
_UNIT = rf"{_N}(?:单元|号门)"
_ROOM = rf"(?:{_N}(?:室|户|号房|号)|\d{{3,4}}(?![{_ROOM_NOT_BEFORE}]))"
_DASHED = r"\d{1,3}-\d{1,2}-\d{3,4}(?:室|号)?(?![0-9])"
_DWELLING = (
    rf"(?:{_YARD}{_S})?(?:{_BLDG}{_S}(?:{_UNIT}{_S})?|{_UNIT}{_S})(?:{_N}(?:层|楼){_S})?{_ROOM}|{_YARD}{_S}{_DASHED}"
)
_ROAD = rf"{_HAN}{{1,6}}?(?:大道|大街|路|街|巷|胡同|弄){_N}(?:号|弄)"
_PLACE = (
    rf"(?:{_ROAD}{_S})?(?:{_DWELLING}|{_YARD}{_S}(?:{_BLDG}{_S})?(?:{_UNIT})?|{_BLDG}{_S}(?:{_UNIT})?|{_UNIT}|{_DASHED})"
    rf"|{_ROAD}"
)
_ESTATE = rf"(?:{_HAN}{{1,10}}?(?:小区|花园|家园|公寓|新村|苑|大厦|社区|村))?"
_EN_ROOM = r"(?:room|rm\.?|flat|apt\.?|apartment|unit|suite)"
_EN_BLDG = r"(?:building|bldg\.?|block|blk\.?|tower)"
_EN_NUM = r"\s{0,2}#?\d{1,5}[A-Za-z]?"
_ADDRESSES = (
    re.compile(rf"(?<![0-9])(?:{_DWELLING})"),
    re.compile(
        rf"(?:我住|我家住|我家在|我家是|家住|住在|我们住|我们家住|我们家在|家庭住址|住址|地址|(?:^|(?<=[\s，,。；;]))住)"
        rf"(?:在|于|的是|是|为)?"
        rf"[\s:：]{{0,2}}{_ESTATE}(?P<v>{_PLACE})"
    ),
    re.compile(rf"我是(?P<v>{_PLACE})的"),
    re.compile(
        rf"(?i:{_EN_ROOM}{_EN_NUM}[ ,]{{0,3}}{_EN_BLDG}{_EN_NUM}|{_EN_BLDG}{_EN_NUM}[ ,]{{0,3}}{_EN_ROOM}{_EN_NUM})"
    ),
    re.compile(
        rf"(?i:i live (?:at|in|on)|my address is|my home is (?:at|in)|i stay (?:at|in))\s{{1,3}}"
        rf"(?P<v>(?i:{_EN_ROOM}|{_EN_BLDG}){_EN_NUM}|\d{{1,5}}\s(?:[A-Za-z]{{1,20}}\s){{1,2}}"
        rf"(?i:road|rd\.?|street|st\.?|lane|ln\.?|avenue|ave\.?|lu|jie))"
    ),
)


def _spans(patterns: tuple[re.Pattern[str], ...], text: str, kind: str) -> Iterator[Finding]:
    for pattern in patterns:
        for m in pattern.finditer(text):
            start, end = m.span("v") if "v" in pattern.groupindex else m.span()
            if end > start:
                yield Finding(start, end, kind)


def find_words(view: View) -> Iterator[Finding]:
    """E-mails, plates, passports and names in the NFKC view (``make_view(text, digits=False)``),
    in the view's coordinates."""
    text = view.text
    yield from _spans((_EMAIL,), text, "email")
    yield from _spans((_PLATE,), text, "plate")
    yield from _spans((_PASSPORT, _PASSPORT_LABELLED), text, "passport")
    yield from _spans(_NAMES + _EN_NAMES, text, "name")


def find_addresses(view: View) -> Iterator[Finding]:
    """Home addresses in the digit view (``make_view(text, digits=True)``), in its coordinates."""
    yield from _spans(_ADDRESSES, view.text, "address")
