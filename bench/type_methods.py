#!/usr/bin/env python3
"""Methods on a type: brace-matches every `struct`/`extension TYPE` block in Sources/**/*.swift and
counts the lines with `func` at depth 1.  usage: bench/type_methods.py REV|WT [DIR] [TYPE]
(WT = the working tree; TYPE defaults to Authenticator)."""
import re,sys,subprocess

rev=sys.argv[1]; d=sys.argv[2] if len(sys.argv)>2 else '.'; T=sys.argv[3] if len(sys.argv)>3 else 'Authenticator'
def files():
    if rev=='WT':
        out=subprocess.check_output(['git','-C',d,'ls-files','Sources'],text=True).split()
        return [(f,open(f'{d}/{f}').read()) for f in out if f.endswith('.swift')]
    out=subprocess.check_output(['git','-C',d,'ls-tree','-r','--name-only',rev,'Sources'],text=True).split()
    return [(f,subprocess.check_output(['git','-C',d,'show',f'{rev}:{f}'],text=True)) for f in out if f.endswith('.swift')]
total=0; per={}
for f,s in files():
    lines=s.split('\n')
    i=0
    while i<len(lines):
        if re.match(r'^(public |package )?(extension|struct) '+T+r'\b',lines[i]):
            depth=0; started=False; n=0
            for k in range(i,len(lines)):
                l=lines[k]
                if started and depth==1 and re.search(r'\bfunc\s',l) and not l.strip().startswith('//'): n+=1
                depth+=l.count('{')-l.count('}')
                if '{' in l: started=True
                if started and depth==0: i=k; break
            per[f]=per.get(f,0)+n; total+=n
        i+=1
print('methods on',T+':',total,'in',len(per),'files')
