# fish completion for blipctl; generated from the blipctl CLI by scripts/gen_completions.py; do not edit.
# Use: copy to ~/.config/fish/completions/blipctl.fish

function __blipctl_path --description 'the blipctl subcommand path typed so far'
    set -l path
    for t in (commandline -opc)[2..-1]
        if not string match -q -- '-*' $t; and contains -- $t (__blipctl_subcommands "$path")
            set path (string trim -- "$path $t")
        end
    end
    echo $path
end

function __blipctl_subcommands
    switch $argv[1]
        case ''
            printf '%s\n' bootstrap caption data eval export finetune pretrain recipes vqa
        case 'data'
            printf '%s\n' info synth
        case 'eval'
            printf '%s\n' run score
        case 'recipes'
            printf '%s\n' list show validate
    end
end

function __blipctl_at --argument-names want
    test (__blipctl_path) = "$want"
end

complete -c blipctl -f
complete -c blipctl -n '__blipctl_at ""' -a 'bootstrap' -d 'CapFilt: synthetic captions + ITM filtering of a web set, shard by shard; a rerun'
complete -c blipctl -n '__blipctl_at ""' -a 'caption' -d 'Caption images. A bad file is reported on stderr; the rest finish; exit code 1'
complete -c blipctl -n '__blipctl_at ""' -a 'data' -d 'Make and inspect data sets'
complete -c blipctl -n '__blipctl_at ""' -a 'eval' -d 'Evaluate a model on a recipe\'s split, or score a predictions file'
complete -c blipctl -n '__blipctl_at ""' -a 'export' -d 'Write a model in another format; prints where it went'
complete -c blipctl -n '__blipctl_at ""' -a 'finetune' -d 'Fine-tune (caption, retrieval, VQA, NLVR2) or instruction-tune (the recipe\'s `task`)'
complete -c blipctl -n '__blipctl_at ""' -a 'pretrain' -d 'Pretrain BLIP or BLIP-2 (stage 1 or 2); one process, torchrun (DDP) or DeepSpeed ZeRO'
complete -c blipctl -n '__blipctl_at ""' -a 'recipes' -d 'List, show and validate YAML recipes'
complete -c blipctl -n '__blipctl_at ""' -a 'vqa' -d 'Answer questions about images. Bad lines and files are reported; the rest finish'
complete -c blipctl -n '__blipctl_at ""' -l version -d 'Print the version and exit'
complete -c blipctl -n '__blipctl_at ""' -s h -l help -d 'Show help and exit'
complete -c blipctl -n '__blipctl_at "bootstrap"' -l dry-run -d 'Print the resolved recipe and exit'
complete -c blipctl -n '__blipctl_at "bootstrap"' -s h -l help -d 'Show help and exit'
complete -c blipctl -n '__blipctl_at "bootstrap"' -F -a 'blip/caption_coco blip/eval_caption_coco blip/eval_nlvr blip/eval_retrieval_coco blip/eval_retrieval_flickr blip/eval_vqa blip/nlvr blip/pretrain_base blip/retrieval_coco blip/retrieval_flickr blip/vqa blip2/caption_coco_opt blip2/eval_caption_coco blip2/eval_gqa_zeroshot blip2/eval_nocaps blip2/eval_okvqa_zeroshot blip2/eval_retrieval_coco blip2/eval_retrieval_flickr blip2/eval_vqav2_zeroshot blip2/pretrain_stage1 blip2/pretrain_stage2_opt blip2/pretrain_stage2_t5 blip2/retrieval_coco instructblip/eval_flickr30k instructblip/eval_gqa instructblip/eval_hateful_memes instructblip/eval_iconqa instructblip/eval_nocaps instructblip/eval_scienceqa instructblip/eval_textvqa instructblip/eval_visdial instructblip/eval_vizwiz instructblip/eval_vsr instructblip/tune_flant5xl instructblip/tune_flant5xxl instructblip/tune_vicuna13b instructblip/tune_vicuna7b mini/blip2_opt mini/blip2_stage1 mini/blip2_t5 mini/blip2_vqa mini/bootstrap mini/caption mini/corpus mini/eval_blip2_caption mini/eval_blip2_vqa mini/eval_caption mini/eval_nlvr mini/eval_retrieval mini/eval_vqa mini/instructblip mini/instructblip_blind mini/instructblip_captions mini/lm_opt mini/lm_t5 mini/nlvr mini/pretrain mini/retrieval mini/vqa'
complete -c blipctl -n '__blipctl_at "caption"' -s h -l help -d 'Show help and exit'
complete -c blipctl -n '__blipctl_at "caption"' -l model -s m -r -d 'Hub id, transformers directory, original BLIP or LAVIS BLIP-2 .pth, or blipctl run directory'
complete -c blipctl -n '__blipctl_at "caption"' -l llm -r -d 'The LM (directory or Hub id) of a LAVIS BLIP-2 checkpoint, which holds none'
complete -c blipctl -n '__blipctl_at "caption"' -l num-beams -r -d 'Beam width (1: greedy)'
complete -c blipctl -n '__blipctl_at "caption"' -l max-length -r -d 'Most tokens, prompt included'
complete -c blipctl -n '__blipctl_at "caption"' -l min-length -r -d 'Fewest tokens, prompt included'
complete -c blipctl -n '__blipctl_at "caption"' -l top-p -r -d 'Nucleus sampling when > 0 (BLIP: 0.9)'
complete -c blipctl -n '__blipctl_at "caption"' -l temperature -r -d 'Sampling temperature'
complete -c blipctl -n '__blipctl_at "caption"' -l repetition-penalty -r -d 'Penalty for repeated tokens (BLIP samples with 1.1)'
complete -c blipctl -n '__blipctl_at "caption"' -l seed -r -d 'Seed for sampling'
complete -c blipctl -n '__blipctl_at "caption"' -l prompt -r -d 'Text the caption continues (default: the model\'s own, \'a picture of \' for BLIP, none for BLIP-2)'
complete -c blipctl -n '__blipctl_at "caption"' -l instruction -r -d 'What a BLIP-2 or InstructBLIP model is asked (InstructBLIP\'s Q-Former reads it too), e.g. \'A short image description:\'; the caption is the answer, and --max-length and --min-length count its own tokens'
complete -c blipctl -n '__blipctl_at "caption"' -l batch-size -s b -r -d 'Images per batch'
complete -c blipctl -n '__blipctl_at "caption"' -l dtype -r -a 'auto fp32 bf16' -d 'Weights: auto is fp32 for BLIP, and for BLIP-2\'s frozen tower and LM bf16 where this machine computes bf16 fast (the Q-Former stays fp32)'
complete -c blipctl -n '__blipctl_at "caption"' -l device -r -d 'cpu, cuda or cuda:N'
complete -c blipctl -n '__blipctl_at "caption"' -l format -r -a 'text jsonl' -d 'text, or jsonl records'
complete -c blipctl -n '__blipctl_at "data"' -a 'info' -d 'Print what a synthetic corpus holds, with an example of each kind of text'
complete -c blipctl -n '__blipctl_at "data"' -a 'synth' -d 'Generate the synthetic corpus: captions, noisy web alt-text, VQA, NLVR2 and shards'
complete -c blipctl -n '__blipctl_at "data"' -s h -l help -d 'Show help and exit'
complete -c blipctl -n '__blipctl_at "data info"' -l json -d 'Print manifest.json as it is'
complete -c blipctl -n '__blipctl_at "data info"' -s h -l help -d 'Show help and exit'
complete -c blipctl -n '__blipctl_at "data info"' -a '(__fish_complete_directories)'
complete -c blipctl -n '__blipctl_at "data synth"' -s h -l help -d 'Show help and exit'
complete -c blipctl -n '__blipctl_at "data synth"' -l out -s o -r -a '(__fish_complete_directories)' -d 'Output directory (output_dir=)'
complete -c blipctl -n '__blipctl_at "data synth"' -l images -s n -r -d 'Number of images (corpus.images=)'
complete -c blipctl -n '__blipctl_at "data synth"' -l seed -r -d 'Random seed (corpus.seed=)'
complete -c blipctl -n '__blipctl_at "data synth"' -l noise -r -d 'Noisy web fraction (corpus.noise=)'
complete -c blipctl -n '__blipctl_at "data synth"' -F -a 'blip/caption_coco blip/eval_caption_coco blip/eval_nlvr blip/eval_retrieval_coco blip/eval_retrieval_flickr blip/eval_vqa blip/nlvr blip/pretrain_base blip/retrieval_coco blip/retrieval_flickr blip/vqa blip2/caption_coco_opt blip2/eval_caption_coco blip2/eval_gqa_zeroshot blip2/eval_nocaps blip2/eval_okvqa_zeroshot blip2/eval_retrieval_coco blip2/eval_retrieval_flickr blip2/eval_vqav2_zeroshot blip2/pretrain_stage1 blip2/pretrain_stage2_opt blip2/pretrain_stage2_t5 blip2/retrieval_coco instructblip/eval_flickr30k instructblip/eval_gqa instructblip/eval_hateful_memes instructblip/eval_iconqa instructblip/eval_nocaps instructblip/eval_scienceqa instructblip/eval_textvqa instructblip/eval_visdial instructblip/eval_vizwiz instructblip/eval_vsr instructblip/tune_flant5xl instructblip/tune_flant5xxl instructblip/tune_vicuna13b instructblip/tune_vicuna7b mini/blip2_opt mini/blip2_stage1 mini/blip2_t5 mini/blip2_vqa mini/bootstrap mini/caption mini/corpus mini/eval_blip2_caption mini/eval_blip2_vqa mini/eval_caption mini/eval_nlvr mini/eval_retrieval mini/eval_vqa mini/instructblip mini/instructblip_blind mini/instructblip_captions mini/lm_opt mini/lm_t5 mini/nlvr mini/pretrain mini/retrieval mini/vqa'
complete -c blipctl -n '__blipctl_at "eval"' -a 'run' -d 'Evaluate a model: predictions.json, metrics.json and a table (the default command)'
complete -c blipctl -n '__blipctl_at "eval"' -a 'score' -d 'Score an existing predictions file as the official tools do (formats: docs/eval.md)'
complete -c blipctl -n '__blipctl_at "eval"' -s h -l help -d 'Show help and exit'
complete -c blipctl -n '__blipctl_at "eval run"' -l check -d 'Compare with the recipe\'s expect: block; exit 1 on a miss'
complete -c blipctl -n '__blipctl_at "eval run"' -l dry-run -d 'Print the resolved recipe and exit'
complete -c blipctl -n '__blipctl_at "eval run"' -s h -l help -d 'Show help and exit'
complete -c blipctl -n '__blipctl_at "eval run"' -l model -s m -r -d 'Run directory, BLIP .pth, transformers directory or Hub id (model=)'
complete -c blipctl -n '__blipctl_at "eval run"' -l llm -r -d 'The LM of a LAVIS BLIP-2 checkpoint (llm=)'
complete -c blipctl -n '__blipctl_at "eval run"' -F -a 'blip/caption_coco blip/eval_caption_coco blip/eval_nlvr blip/eval_retrieval_coco blip/eval_retrieval_flickr blip/eval_vqa blip/nlvr blip/pretrain_base blip/retrieval_coco blip/retrieval_flickr blip/vqa blip2/caption_coco_opt blip2/eval_caption_coco blip2/eval_gqa_zeroshot blip2/eval_nocaps blip2/eval_okvqa_zeroshot blip2/eval_retrieval_coco blip2/eval_retrieval_flickr blip2/eval_vqav2_zeroshot blip2/pretrain_stage1 blip2/pretrain_stage2_opt blip2/pretrain_stage2_t5 blip2/retrieval_coco instructblip/eval_flickr30k instructblip/eval_gqa instructblip/eval_hateful_memes instructblip/eval_iconqa instructblip/eval_nocaps instructblip/eval_scienceqa instructblip/eval_textvqa instructblip/eval_visdial instructblip/eval_vizwiz instructblip/eval_vsr instructblip/tune_flant5xl instructblip/tune_flant5xxl instructblip/tune_vicuna13b instructblip/tune_vicuna7b mini/blip2_opt mini/blip2_stage1 mini/blip2_t5 mini/blip2_vqa mini/bootstrap mini/caption mini/corpus mini/eval_blip2_caption mini/eval_blip2_vqa mini/eval_caption mini/eval_nlvr mini/eval_retrieval mini/eval_vqa mini/instructblip mini/instructblip_blind mini/instructblip_captions mini/lm_opt mini/lm_t5 mini/nlvr mini/pretrain mini/retrieval mini/vqa'
complete -c blipctl -n '__blipctl_at "eval score"' -l spice -l no-spice -d 'Caption: SPICE when its jars are there'
complete -c blipctl -n '__blipctl_at "eval score"' -l json -d 'Print the metrics as JSON instead of a table'
complete -c blipctl -n '__blipctl_at "eval score"' -s h -l help -d 'Show help and exit'
complete -c blipctl -n '__blipctl_at "eval score"' -l task -s t -r -a 'caption vqa retrieval nlvr' -d 'caption, vqa, retrieval or nlvr'
complete -c blipctl -n '__blipctl_at "eval score"' -l predictions -s p -r -F -d 'COCO caption results, VQAv2 results, NLVR2 predictions, or a retrieval score matrix (.npy or JSON)'
complete -c blipctl -n '__blipctl_at "eval score"' -l annotations -s a -r -F -d 'Ground truth: COCO captions, VQAv2 questions with answers, NLVR2 records, or the Karpathy retrieval split'
complete -c blipctl -n '__blipctl_at "export"' -s h -l help -d 'Show help and exit'
complete -c blipctl -n '__blipctl_at "export"' -l model -s m -r -d 'Hub id, transformers directory, original BLIP or LAVIS BLIP-2 .pth, or blipctl run directory'
complete -c blipctl -n '__blipctl_at "export"' -l llm -r -d 'The LM (directory or Hub id) of a LAVIS BLIP-2 checkpoint, which holds none'
complete -c blipctl -n '__blipctl_at "export"' -l to -r -a 'hf blip lavis' -d 'hf: a transformers directory; blip: an original BLIP .pth file; lavis: a LAVIS BLIP-2 .pth file (no LM weights)'
complete -c blipctl -n '__blipctl_at "export"' -l out -s o -r -F -d 'Output directory (hf) or file (blip)'
complete -c blipctl -n '__blipctl_at "finetune"' -l dry-run -d 'Print the resolved recipe and exit'
complete -c blipctl -n '__blipctl_at "finetune"' -s h -l help -d 'Show help and exit'
complete -c blipctl -n '__blipctl_at "finetune"' -l resume -r -a '(__fish_complete_directories)' -d 'Continue the run in DIR from its newest checkpoint (RECIPE defaults to DIR/config.yaml)'
complete -c blipctl -n '__blipctl_at "finetune"' -F -a 'blip/caption_coco blip/eval_caption_coco blip/eval_nlvr blip/eval_retrieval_coco blip/eval_retrieval_flickr blip/eval_vqa blip/nlvr blip/pretrain_base blip/retrieval_coco blip/retrieval_flickr blip/vqa blip2/caption_coco_opt blip2/eval_caption_coco blip2/eval_gqa_zeroshot blip2/eval_nocaps blip2/eval_okvqa_zeroshot blip2/eval_retrieval_coco blip2/eval_retrieval_flickr blip2/eval_vqav2_zeroshot blip2/pretrain_stage1 blip2/pretrain_stage2_opt blip2/pretrain_stage2_t5 blip2/retrieval_coco instructblip/eval_flickr30k instructblip/eval_gqa instructblip/eval_hateful_memes instructblip/eval_iconqa instructblip/eval_nocaps instructblip/eval_scienceqa instructblip/eval_textvqa instructblip/eval_visdial instructblip/eval_vizwiz instructblip/eval_vsr instructblip/tune_flant5xl instructblip/tune_flant5xxl instructblip/tune_vicuna13b instructblip/tune_vicuna7b mini/blip2_opt mini/blip2_stage1 mini/blip2_t5 mini/blip2_vqa mini/bootstrap mini/caption mini/corpus mini/eval_blip2_caption mini/eval_blip2_vqa mini/eval_caption mini/eval_nlvr mini/eval_retrieval mini/eval_vqa mini/instructblip mini/instructblip_blind mini/instructblip_captions mini/lm_opt mini/lm_t5 mini/nlvr mini/pretrain mini/retrieval mini/vqa'
complete -c blipctl -n '__blipctl_at "pretrain"' -l dry-run -d 'Print the resolved recipe and exit'
complete -c blipctl -n '__blipctl_at "pretrain"' -s h -l help -d 'Show help and exit'
complete -c blipctl -n '__blipctl_at "pretrain"' -l resume -r -a '(__fish_complete_directories)' -d 'Continue the run in DIR from its newest checkpoint (RECIPE defaults to DIR/config.yaml)'
complete -c blipctl -n '__blipctl_at "pretrain"' -F -a 'blip/caption_coco blip/eval_caption_coco blip/eval_nlvr blip/eval_retrieval_coco blip/eval_retrieval_flickr blip/eval_vqa blip/nlvr blip/pretrain_base blip/retrieval_coco blip/retrieval_flickr blip/vqa blip2/caption_coco_opt blip2/eval_caption_coco blip2/eval_gqa_zeroshot blip2/eval_nocaps blip2/eval_okvqa_zeroshot blip2/eval_retrieval_coco blip2/eval_retrieval_flickr blip2/eval_vqav2_zeroshot blip2/pretrain_stage1 blip2/pretrain_stage2_opt blip2/pretrain_stage2_t5 blip2/retrieval_coco instructblip/eval_flickr30k instructblip/eval_gqa instructblip/eval_hateful_memes instructblip/eval_iconqa instructblip/eval_nocaps instructblip/eval_scienceqa instructblip/eval_textvqa instructblip/eval_visdial instructblip/eval_vizwiz instructblip/eval_vsr instructblip/tune_flant5xl instructblip/tune_flant5xxl instructblip/tune_vicuna13b instructblip/tune_vicuna7b mini/blip2_opt mini/blip2_stage1 mini/blip2_t5 mini/blip2_vqa mini/bootstrap mini/caption mini/corpus mini/eval_blip2_caption mini/eval_blip2_vqa mini/eval_caption mini/eval_nlvr mini/eval_retrieval mini/eval_vqa mini/instructblip mini/instructblip_blind mini/instructblip_captions mini/lm_opt mini/lm_t5 mini/nlvr mini/pretrain mini/retrieval mini/vqa'
complete -c blipctl -n '__blipctl_at "recipes"' -a 'list' -d 'List recipe names with their one-line descriptions'
complete -c blipctl -n '__blipctl_at "recipes"' -a 'show' -d 'Print a recipe with overrides applied and defaults filled in'
complete -c blipctl -n '__blipctl_at "recipes"' -a 'validate' -d 'Check recipes: keys, types and every `_component_`\'s signature, building nothing'
complete -c blipctl -n '__blipctl_at "recipes"' -s h -l help -d 'Show help and exit'
complete -c blipctl -n '__blipctl_at "recipes list"' -s h -l help -d 'Show help and exit'
complete -c blipctl -n '__blipctl_at "recipes show"' -s h -l help -d 'Show help and exit'
complete -c blipctl -n '__blipctl_at "recipes show"' -F -a 'blip/caption_coco blip/eval_caption_coco blip/eval_nlvr blip/eval_retrieval_coco blip/eval_retrieval_flickr blip/eval_vqa blip/nlvr blip/pretrain_base blip/retrieval_coco blip/retrieval_flickr blip/vqa blip2/caption_coco_opt blip2/eval_caption_coco blip2/eval_gqa_zeroshot blip2/eval_nocaps blip2/eval_okvqa_zeroshot blip2/eval_retrieval_coco blip2/eval_retrieval_flickr blip2/eval_vqav2_zeroshot blip2/pretrain_stage1 blip2/pretrain_stage2_opt blip2/pretrain_stage2_t5 blip2/retrieval_coco instructblip/eval_flickr30k instructblip/eval_gqa instructblip/eval_hateful_memes instructblip/eval_iconqa instructblip/eval_nocaps instructblip/eval_scienceqa instructblip/eval_textvqa instructblip/eval_visdial instructblip/eval_vizwiz instructblip/eval_vsr instructblip/tune_flant5xl instructblip/tune_flant5xxl instructblip/tune_vicuna13b instructblip/tune_vicuna7b mini/blip2_opt mini/blip2_stage1 mini/blip2_t5 mini/blip2_vqa mini/bootstrap mini/caption mini/corpus mini/eval_blip2_caption mini/eval_blip2_vqa mini/eval_caption mini/eval_nlvr mini/eval_retrieval mini/eval_vqa mini/instructblip mini/instructblip_blind mini/instructblip_captions mini/lm_opt mini/lm_t5 mini/nlvr mini/pretrain mini/retrieval mini/vqa'
complete -c blipctl -n '__blipctl_at "recipes validate"' -l all -d 'Validate every recipe in recipes/'
complete -c blipctl -n '__blipctl_at "recipes validate"' -s h -l help -d 'Show help and exit'
complete -c blipctl -n '__blipctl_at "recipes validate"' -F -a 'blip/caption_coco blip/eval_caption_coco blip/eval_nlvr blip/eval_retrieval_coco blip/eval_retrieval_flickr blip/eval_vqa blip/nlvr blip/pretrain_base blip/retrieval_coco blip/retrieval_flickr blip/vqa blip2/caption_coco_opt blip2/eval_caption_coco blip2/eval_gqa_zeroshot blip2/eval_nocaps blip2/eval_okvqa_zeroshot blip2/eval_retrieval_coco blip2/eval_retrieval_flickr blip2/eval_vqav2_zeroshot blip2/pretrain_stage1 blip2/pretrain_stage2_opt blip2/pretrain_stage2_t5 blip2/retrieval_coco instructblip/eval_flickr30k instructblip/eval_gqa instructblip/eval_hateful_memes instructblip/eval_iconqa instructblip/eval_nocaps instructblip/eval_scienceqa instructblip/eval_textvqa instructblip/eval_visdial instructblip/eval_vizwiz instructblip/eval_vsr instructblip/tune_flant5xl instructblip/tune_flant5xxl instructblip/tune_vicuna13b instructblip/tune_vicuna7b mini/blip2_opt mini/blip2_stage1 mini/blip2_t5 mini/blip2_vqa mini/bootstrap mini/caption mini/corpus mini/eval_blip2_caption mini/eval_blip2_vqa mini/eval_caption mini/eval_nlvr mini/eval_retrieval mini/eval_vqa mini/instructblip mini/instructblip_blind mini/instructblip_captions mini/lm_opt mini/lm_t5 mini/nlvr mini/pretrain mini/retrieval mini/vqa'
complete -c blipctl -n '__blipctl_at "vqa"' -s h -l help -d 'Show help and exit'
complete -c blipctl -n '__blipctl_at "vqa"' -l questions -s q -r -F -d 'JSONL file of {"image", "question"} lines (and optionally "instruction")'
complete -c blipctl -n '__blipctl_at "vqa"' -l answers -r -F -d 'Rank this answer list (JSON list or one per line) instead of generating'
complete -c blipctl -n '__blipctl_at "vqa"' -l k-test -r -d 'Answers kept after first-token ranking'
complete -c blipctl -n '__blipctl_at "vqa"' -l model -s m -r -d 'Hub id, transformers directory, original BLIP or LAVIS BLIP-2 .pth, or blipctl run directory'
complete -c blipctl -n '__blipctl_at "vqa"' -l llm -r -d 'The LM (directory or Hub id) of a LAVIS BLIP-2 checkpoint, which holds none'
complete -c blipctl -n '__blipctl_at "vqa"' -l num-beams -r -d 'Beam width (1: greedy); default: the model\'s paper\'s (BLIP 3, BLIP-2 5)'
complete -c blipctl -n '__blipctl_at "vqa"' -l max-length -r -d 'Most answer tokens (BLIP counts its [DEC]); default 10'
complete -c blipctl -n '__blipctl_at "vqa"' -l min-length -r -d 'Fewest answer tokens; default 1'
complete -c blipctl -n '__blipctl_at "vqa"' -l length-penalty -r -d 'Beam-score length exponent; default: the model\'s paper\'s (BLIP 1, BLIP-2 0 for OPT, -1 for Flan-T5)'
complete -c blipctl -n '__blipctl_at "vqa"' -l instruction -r -d 'What a BLIP-2 or InstructBLIP model is asked, {} standing for the question (default "Question: {} Short answer:"); an `instruction` field of a --questions line overrides it'
complete -c blipctl -n '__blipctl_at "vqa"' -l batch-size -s b -r -d 'Questions per batch'
complete -c blipctl -n '__blipctl_at "vqa"' -l dtype -r -a 'auto fp32 bf16' -d 'Weights: auto is fp32 for BLIP, and for BLIP-2\'s frozen tower and LM bf16 where this machine computes bf16 fast (the Q-Former stays fp32)'
complete -c blipctl -n '__blipctl_at "vqa"' -l device -r -d 'cpu, cuda or cuda:N'
complete -c blipctl -n '__blipctl_at "vqa"' -l format -r -a 'text jsonl' -d 'text, or jsonl records'
