#!/bin/sh
# mkroster.sh - regenerate examples/roster.csv, the demo HR export.
#
# 300 people of "Example Corp" (mail domains example.com and example.org;
# Research and Community staff are on example.org), comma-delimited, LF
# line endings, UTF-8, names from many cultures in their own scripts with
# an ASCII transliteration for the mailbox.  Fields that contain a comma
# or a double quote are quoted (some titles, e.g. "Engineer, Platform").
#
# Leavers (Status Terminated / Inactive) are rows 37, 74, 112, 181, 205
# and 268.  Five rows are deliberately messy so that the demo shows the
# error reporting:
#   row  58  Work Email empty
#   row 143  personal address at a foreign domain (example.net)
#   row 199  typo in the domain (exmaple.com)
#   row 221  exact duplicate of row 17's address (second HR record)
#   row 287  row 90's address again, differing only in case
# (row N is the N-th data record, i.e. physical line N+1.)
#
# Output is deterministic (no clock, no randomness).  Names that collide
# get a digit appended to the local part, as mail admins do.
#
# Usage: sh examples/mkroster.sh

set -eu
LC_ALL=C
export LC_ALL

here=$(cd "$(dirname "$0")" && pwd)
out=$here/roster.csv

prog='
function q(s) {
	if (s ~ /[",]/) { gsub(/"/, "\"\"", s); return "\"" s "\"" }
	return s
}
# C|culture|order     order: W = given family, H = family given (with
#                     space), E = family given (no space)
# F|culture|m or f|given name|ascii
# L|culture|family name|female form (empty: same)|ascii|ascii female form
$1 == "C" { nc++; cul[nc] = $2; ord[$2] = $3; next }
$1 == "F" {
	nF[$2]++; fN[$2, nF[$2]] = $4; fA[$2, nF[$2]] = $5; fG[$2, nF[$2]] = $3
	next
}
$1 == "L" {
	nL[$2]++
	lM[$2, nL[$2]] = $3; lF[$2, nL[$2]] = ($4 == "") ? $3 : $4
	lMA[$2, nL[$2]] = $5; lFA[$2, nL[$2]] = ($6 == "") ? $5 : $6
	next
}
$1 == "D" {
	nd++; dept[nd] = $2; ntit[nd] = split($3, x, ";")
	for (j = 1; j <= ntit[nd]; j++) tit[nd, j] = x[j]
	ctit[nd] = $4
	next
}
$1 == "M" { nm = split($2, mix, " "); next }
$1 == "W" { ndm = split($2, dmix, " "); next }
END {
	print "Employee ID,First Name,Last Name,Display Name,Work Email,Department,Title,Status,Start Date" > out
	status[37] = "Terminated"; status[74] = "Inactive"; status[112] = "Terminated"
	status[181] = "Inactive"; status[205] = "Terminated"; status[268] = "Terminated"
	for (i = 1; i <= 300; i++) {
		c = mix[(i * 7) % nm + 1]
		n = used[c]++
		fi = n % nF[c] + 1
		li = (n + int(n / nF[c])) % nL[c] + 1
		g = fN[c, fi]
		if (fG[c, fi] == "f") { f = lF[c, li]; fa = lFA[c, li] }
		else { f = lM[c, li]; fa = lMA[c, li] }
		if (ord[c] == "W") disp = g " " f
		else if (ord[c] == "H") disp = f " " g
		else disp = f g
		d = dmix[(i * 11 + int(i / 5)) % ndm + 1]
		n = tn[d]++
		t = (i % 19 == 7) ? ctit[d] : tit[d, (n * 2 + int(n / ntit[d])) % ntit[d] + 1]
		dom = (dept[d] == "Research" || dept[d] == "Community") ? "example.org" : "example.com"
		base = fA[c, fi] "." fa
		local = base
		for (s = 2; (local "@" dom) in taken; s++) local = base s
		mail = local "@" dom
		taken[mail] = 1
		if (i == 58) mail = ""
		if (i == 143) mail = fA[c, fi] "." fa "@example.net"
		if (i == 199) mail = local "@exmaple.com"
		if (i == 221) { g = G[17]; f = FAM[17]; disp = DISP[17]; mail = MAIL[17] }
		if (i == 287) {
			g = G[90]; f = FAM[90]; disp = DISP[90]
			# Firstname.Lastname@...: same mailbox, different case
			mail = MAIL[90]; p = index(mail, ".")
			mail = toupper(substr(mail, 1, 1)) substr(mail, 2, p - 1) \
			    toupper(substr(mail, p + 1, 1)) substr(mail, p + 2)
		}
		G[i] = g; FAM[i] = f; DISP[i] = disp; MAIL[i] = mail
		st = (i in status) ? status[i] : "Active"
		y = 2008 + (i * 7) % 17
		m = 1 + (i * 5) % 12
		dd = 1 + (i * 11) % 28
		printf "E%05d,%s,%s,%s,%s,%s,%s,%s,%04d-%02d-%02d\n", 1000 + i, q(g), q(f), q(disp),
		    q(mail), q(dept[d]), q(t), st, y, m, dd > out
	}
	close(out)
}
'

rm -f "$out.tmp"
trap 'rm -f "$out.tmp"' EXIT
awk -F'|' -v out="$out.tmp" "$prog" <<'EOF'
# Mix of cultures: one entry is picked per person, (row * 7) mod length.
M|en in en de fr es en pl zh ar en ja ie he uk nd en ko gr ng tr vi hu pt is fi ru in hi en th es de
#
C|en|W
F|en|m|Oliver|oliver
F|en|f|Amelia|amelia
F|en|m|George|george
F|en|f|Isla|isla
F|en|m|Harry|harry
F|en|f|Sophie|sophie
F|en|m|Thomas|thomas
F|en|f|Emily|emily
F|en|m|William|william
F|en|f|Grace|grace
L|en|Smith||smith|
L|en|Taylor||taylor|
L|en|Brown||brown|
L|en|Evans||evans|
L|en|Roberts||roberts|
L|en|Walker||walker|
L|en|Wright||wright|
L|en|Hughes||hughes|
L|en|Clarke||clarke|
L|en|Turner||turner|
C|ie|W
F|ie|f|Siobhán|siobhan
F|ie|m|Ciarán|ciaran
F|ie|f|Aoife|aoife
F|ie|f|Niamh|niamh
F|ie|m|Seán|sean
F|ie|m|Oisín|oisin
L|ie|Murphy||murphy|
L|ie|O'Neill||oneill|
L|ie|Ó Briain|Ní Bhriain|obriain|nibhriain
L|ie|Byrne||byrne|
L|ie|O'Sullivan||osullivan|
C|de|W
F|de|m|Jürgen|juergen
F|de|f|Lena|lena
F|de|m|Maximilian|maximilian
F|de|f|Anja|anja
F|de|m|Björn|bjoern
F|de|f|Katrin|katrin
L|de|Müller||mueller|
L|de|Schäfer||schaefer|
L|de|Weiß||weiss|
L|de|Becker||becker|
L|de|Hoffmann||hoffmann|
L|de|Köhler||koehler|
C|fr|W
F|fr|f|Amélie|amelie
F|fr|m|Étienne|etienne
F|fr|f|Chloé|chloe
F|fr|m|François|francois
F|fr|f|Hélène|helene
F|fr|m|Théo|theo
L|fr|Lefèvre||lefevre|
L|fr|Dubois||dubois|
L|fr|Moreau||moreau|
L|fr|Girard||girard|
L|fr|Bérenger||berenger|
C|es|W
F|es|m|José|jose
F|es|f|María|maria
F|es|m|Iñaki|inaki
F|es|f|Lucía|lucia
F|es|m|Andrés|andres
F|es|f|Sofía|sofia
L|es|García||garcia|
L|es|Fernández||fernandez|
L|es|Muñoz||munoz|
L|es|Ortega||ortega|
L|es|Jiménez||jimenez|
L|es|Castaño||castano|
C|pt|W
F|pt|m|João|joao
F|pt|f|Inês|ines
F|pt|m|Gonçalo|goncalo
F|pt|f|Beatriz|beatriz
L|pt|Gonçalves||goncalves|
L|pt|Conceição||conceicao|
L|pt|Simões||simoes|
L|pt|Magalhães||magalhaes|
C|pl|W
F|pl|m|Łukasz|lukasz
F|pl|f|Małgorzata|malgorzata
F|pl|f|Zofia|zofia
F|pl|m|Paweł|pawel
F|pl|f|Agnieszka|agnieszka
F|pl|m|Wojciech|wojciech
L|pl|Wiśniewski|Wiśniewska|wisniewski|wisniewska
L|pl|Kowalczyk||kowalczyk|
L|pl|Dąbrowski|Dąbrowska|dabrowski|dabrowska
L|pl|Żak||zak|
L|pl|Wójcik||wojcik|
C|nd|W
F|nd|m|Søren|soren
F|nd|f|Åsa|asa
F|nd|m|Lars|lars
F|nd|f|Ingrid|ingrid
F|nd|m|Mikael|mikael
L|nd|Jørgensen||jorgensen|
L|nd|Ødegård||odegard|
L|nd|Lindqvist||lindqvist|
L|nd|Åberg||aberg|
C|is|W
F|is|m|Guðmundur|gudmundur
F|is|f|Sigríður|sigridur
F|is|m|Þórir|thorir
F|is|f|Hrafnhildur|hrafnhildur
L|is|Jónsson|Jónsdóttir|jonsson|jonsdottir
L|is|Þórsson|Þórsdóttir|thorsson|thorsdottir
L|is|Einarsson|Einarsdóttir|einarsson|einarsdottir
C|fi|W
F|fi|f|Aino|aino
F|fi|m|Väinö|vaino
F|fi|f|Päivi|paivi
F|fi|m|Jukka|jukka
L|fi|Häkkinen||hakkinen|
L|fi|Mäkelä||makela|
L|fi|Virtanen||virtanen|
C|tr|W
F|tr|f|Çağla|cagla
F|tr|m|Emre|emre
F|tr|f|Şebnem|sebnem
F|tr|m|Oğuz|oguz
F|tr|m|İbrahim|ibrahim
L|tr|Yılmaz||yilmaz|
L|tr|Öztürk||ozturk|
L|tr|Şahin||sahin|
L|tr|Doğan||dogan|
C|hu|H
F|hu|m|Péter|peter
F|hu|f|Zsófia|zsofia
F|hu|m|Gábor|gabor
F|hu|f|Réka|reka
L|hu|Nagy||nagy|
L|hu|Kovács||kovacs|
L|hu|Szabó||szabo|
L|hu|Tóth||toth|
C|uk|W
F|uk|f|Олена|olena
F|uk|m|Дмитро|dmytro
F|uk|f|Оксана|oksana
F|uk|m|Андрій|andriy
F|uk|f|Ірина|iryna
L|uk|Шевченко||shevchenko|
L|uk|Бондаренко||bondarenko|
L|uk|Ткаченко||tkachenko|
L|uk|Мельник||melnyk|
C|ru|W
F|ru|m|Алексей|alexey
F|ru|f|Екатерина|ekaterina
F|ru|m|Сергей|sergey
F|ru|f|Наталья|natalya
L|ru|Смирнов|Смирнова|smirnov|smirnova
L|ru|Соколов|Соколова|sokolov|sokolova
L|ru|Волков|Волкова|volkov|volkova
C|gr|W
F|gr|m|Γιώργος|giorgos
F|gr|f|Ελένη|eleni
F|gr|m|Δημήτρης|dimitris
F|gr|f|Κατερίνα|katerina
L|gr|Παπαδόπουλος|Παπαδοπούλου|papadopoulos|papadopoulou
L|gr|Οικονόμου||oikonomou|
L|gr|Βλάχος|Βλάχου|vlachos|vlachou
C|ar|W
F|ar|m|محمد|mohammed
F|ar|f|فاطمة|fatima
F|ar|m|عمر|omar
F|ar|f|ليلى|layla
F|ar|m|يوسف|yousef
F|ar|f|نور|noor
L|ar|الحسن||alhassan|
L|ar|الشمري||alshammari|
L|ar|منصور||mansour|
L|ar|حداد||haddad|
L|ar|خوري||khoury|
C|he|W
F|he|f|שרה|sara
F|he|m|דוד|david
F|he|f|נועה|noa
F|he|m|יונתן|yonatan
F|he|f|מיכל|michal
L|he|כהן||cohen|
L|he|לוי||levi|
L|he|מזרחי||mizrahi|
L|he|פרץ||peretz|
C|in|W
F|in|m|Arjun|arjun
F|in|f|Priya|priya
F|in|m|Rohan|rohan
F|in|f|Ananya|ananya
F|in|m|Vikram|vikram
F|in|f|Kavya|kavya
L|in|Sharma||sharma|
L|in|Patel||patel|
L|in|Iyer||iyer|
L|in|Reddy||reddy|
L|in|Banerjee||banerjee|
L|in|Nair||nair|
C|hi|W
F|hi|m|राहुल|rahul
F|hi|f|पूजा|pooja
F|hi|m|अमित|amit
F|hi|f|नेहा|neha
L|hi|वर्मा||verma|
L|hi|गुप्ता||gupta|
L|hi|मिश्रा||mishra|
C|zh|E
F|zh|m|伟|wei
F|zh|f|芳|fang
F|zh|m|强|qiang
F|zh|f|静|jing
F|zh|m|杰|jie
F|zh|f|敏|min
L|zh|王||wang|
L|zh|李||li|
L|zh|张||zhang|
L|zh|刘||liu|
L|zh|陈||chen|
C|ja|E
F|ja|m|翔太|shota
F|ja|f|陽菜|hina
F|ja|m|大輝|daiki
F|ja|f|美咲|misaki
F|ja|f|結衣|yui
L|ja|佐藤||sato|
L|ja|鈴木||suzuki|
L|ja|高橋||takahashi|
L|ja|田中||tanaka|
L|ja|渡辺||watanabe|
C|ko|E
F|ko|m|민준|minjun
F|ko|f|서연|seoyeon
F|ko|m|도윤|doyun
F|ko|f|지우|jiwoo
L|ko|김||kim|
L|ko|이||lee|
L|ko|박||park|
L|ko|최||choi|
C|vi|H
F|vi|m|Minh|minh
F|vi|f|Thảo|thao
F|vi|m|Dũng|dung
F|vi|f|Hương|huong
L|vi|Nguyễn||nguyen|
L|vi|Trần||tran|
L|vi|Phạm||pham|
L|vi|Hoàng||hoang|
C|ng|W
F|ng|m|Chukwuemeka|chukwuemeka
F|ng|f|Adaeze|adaeze
F|ng|m|Oluwaseun|oluwaseun
F|ng|f|Ngozi|ngozi
F|ng|m|Babatunde|babatunde
L|ng|Okafor||okafor|
L|ng|Adeyemi||adeyemi|
L|ng|Nwosu||nwosu|
L|ng|Balogun||balogun|
C|th|W
F|th|f|สมหญิง|somying
F|th|m|สมชาย|somchai
F|th|f|มาลี|malee
L|th|ศรีสุข||srisuk|
L|th|ทองดี||thongdee|
L|th|วงศ์สวัสดิ์||wongsawat|
#
# D|department|titles separated by ;|title with a comma (used now and then)
# W|weights: department numbers (order of the D lines), one is picked per
#   person, (row * 11 + row / 5) mod length.
W|1 1 1 1 1 2 2 2 3 3 4 4 5 6 7 7 7 8 8 9 9 10 11
D|Engineering|Software Engineer;Senior Software Engineer;Staff Engineer;Engineering Manager;QA Engineer|Engineer, Platform
D|Sales|Account Executive;Sales Development Representative;Regional Sales Director|Manager, Sales Operations
D|Marketing|Marketing Specialist;Content Writer;Head of Brand|Manager, Product Marketing
D|Finance|Accountant;Financial Analyst;Payroll Officer|Director, Finance
D|People|HR Business Partner;Recruiter;People Operations Coordinator|Partner, Talent & Learning
D|Legal|Legal Counsel;Paralegal;Data Protection Officer|Counsel, Commercial Contracts
D|Customer Support|Support Agent;Senior Support Agent;Support Engineer|Team Lead, Customer Support
D|Operations|Operations Analyst;Office Manager;Facilities Coordinator|Manager, "Hybrid Office" Programme
D|IT|Systems Administrator;IT Support Technician;Network Engineer|Engineer, Security
D|Research|Research Scientist;Senior Researcher;Data Scientist|Scientist, Applied Cryptography
D|Community|Community Manager;Programme Officer|Coordinator, Open Source
EOF
mv "$out.tmp" "$out"
